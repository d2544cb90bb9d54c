/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one growable array: room for need elements, doubling.  Every
 * append-to-a-malloc'd-array in user/ goes through it, so the doubling, the
 * first size and the overflow check are written once.  Inline: a few lines,
 * used by every layer above btrfs/ (model/ included, which the fuzz build
 * links without host/).
 */
#ifndef BBS_HOST_ARRAY_H
#define BBS_HOST_ARRAY_H

#include <stdint.h>
#include <stdlib.h>

/*
 * Room for need elements of size bytes in arr, which has room for *cap:
 * arr itself when it has it, else arr grown (to first, then doubling until
 * need fits) and *cap updated.  NULL on ENOMEM or overflow: arr and *cap
 * are untouched and still the caller's.
 */
static inline void *bbs_array_reserve(void *arr, size_t *cap, size_t need, size_t size,
				      size_t first)
{
	size_t c = *cap ? *cap : first;
	void *p;

	if (need <= *cap)
		return arr;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return NULL;
		c *= 2;
	}
	if (size && c > SIZE_MAX / size)
		return NULL;
	p = realloc(arr, c * size);
	if (p)
		*cap = c;
	return p;
}

#endif
