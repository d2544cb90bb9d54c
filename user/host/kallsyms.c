// SPDX-License-Identifier: GPL-2.0
/* /proc/kallsyms, read once for a set of function names (kallsyms.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/kallsyms.h"

/* Fewer, larger reads of the seq file than stdio's 4 KiB. */
#define BUF_SIZE (256 << 10)

struct entry {
	const char *name;
	int i;
};

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* base[0..len) against name: <0, 0, >0 as strcmp would order them. */
static int base_cmp(const char *base, size_t len, const char *name)
{
	int c = strncmp(base, name, len);

	return c ? c : -(unsigned char)name[len];
}

int bbs_kallsyms_find(const char *const *names, int n, bbs_ksym_fn fn, void *ctx)
{
	struct entry *idx = calloc(n > 0 ? n : 1, sizeof(*idx));
	char *buf = malloc(BUF_SIZE);
	char line[512];
	bool nonzero = false;
	FILE *f;
	int err;

	if (!idx || !buf) {
		free(idx);
		free(buf);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		idx[i] = (struct entry){ names[i], i };
	qsort(idx, n, sizeof(*idx), entry_cmp);
	f = fopen("/proc/kallsyms", "re");
	if (!f) {
		err = -errno;
		free(idx);
		free(buf);
		return err;
	}
	setvbuf(f, buf, _IOFBF, BUF_SIZE);
	/* "ADDR TYPE NAME" then, for a module, "\t[MODULE]". */
	while (fgets(line, sizeof(line), f)) {
		char *type = strchr(line, ' '), *sym, *mod, *end, *dot;
		size_t len, base;
		int lo = 0, hi = n;

		if (!type || (type[1] != 't' && type[1] != 'T') || type[2] != ' ')
			continue;
		if (!nonzero)
			nonzero = strspn(line, "0") != (size_t)(type - line);
		sym = type + 3;
		len = strcspn(sym, " \t\n");
		mod = sym + len;
		dot = memchr(sym, '.', len);
		base = dot ? (size_t)(dot - sym) : len;
		if (dot && !strncmp(dot, ".cold", 5))
			continue;
		/* The first entry whose name is >= the base name. */
		while (lo < hi) {
			int mid = (lo + hi) / 2;

			if (base_cmp(sym, base, idx[mid].name) > 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || base_cmp(sym, base, idx[lo].name))
			continue;
		/* Terminate the name and find the module: "\t[btrfs]". */
		end = *mod ? mod + 1 : NULL;
		*mod = 0;
		mod = end ? strchr(end, '[') : NULL;
		if (mod) {
			end = strchr(++mod, ']');
			if (end)
				*end = 0;
		} else {
			mod = "";
		}
		for (; lo < n && !base_cmp(sym, base, idx[lo].name); lo++)
			fn(ctx, idx[lo].i, sym, mod, strtoull(line, NULL, 16));
	}
	err = ferror(f) ? -EIO : 0;
	fclose(f);
	free(buf);
	free(idx);
	if (!err && !nonzero)
		err = -EPERM;
	return err;
}
