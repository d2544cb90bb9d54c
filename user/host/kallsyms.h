/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /proc/kallsyms, read once for a set of function names.  A distribution
 * kernel with btrfs loaded lists ~180k symbols; reading them with sscanf
 * and a loop of candidates per line took 4 s of bbscope's start under TCG,
 * so lines are split by hand and names found by binary search.
 */
#ifndef BBS_KALLSYMS_H
#define BBS_KALLSYMS_H

/*
 * Called for each text symbol (t or T) that is names[i] or a compiler copy
 * of it ("names[i].isra.0", "names[i].constprop.0"; never a ".cold"
 * fragment), in the file's order.  mod is the module ("btrfs"), "" for the
 * kernel proper.
 */
typedef void (*bbs_ksym_fn)(void *ctx, int i, const char *sym, const char *mod,
			    unsigned long long addr);

/*
 * One read of /proc/kallsyms for names[0..n).  0; -EPERM when every
 * address reads 0 (kptr_restrict: not root); -errno when it cannot be read.
 */
int bbs_kallsyms_find(const char *const *names, int n, bbs_ksym_fn fn, void *ctx);

#endif
