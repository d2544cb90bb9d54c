/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What diff/'s files share and nothing else sees: the groups of a run
 * (load.c builds a file's, diff.c the pooled and merged ones it compares).
 */
#ifndef BBS_DIFF_INTERNAL_H
#define BBS_DIFF_INTERNAL_H

#include "diff/diff.h"

/* The group (dev, op, kind) of r, added empty if new; NULL on ENOMEM. */
struct bbs_diff_group *bbs_diff_group_get(struct bbs_diff_run *r, const char *dev, int op,
					  int kind);
/* The group of r with like's dev, op and kind, or NULL. */
const struct bbs_diff_group *bbs_diff_group_find(const struct bbs_diff_run *r,
						 const struct bbs_diff_group *like);
/* Sort every sample set of r's groups.  0, or -1 on ENOMEM. */
int bbs_diff_run_sort(struct bbs_diff_run *r);
/* Free r's groups (not r). */
void bbs_diff_run_free(struct bbs_diff_run *r);

#endif
