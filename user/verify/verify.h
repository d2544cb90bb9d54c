/* SPDX-License-Identifier: GPL-2.0 */
/* bbscope verify: checksums (verify.c) and raid5/6 parity (verify_parity.c). */
#ifndef BBS_VERIFY_H
#define BBS_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * verify --parity (nr_recover 0) or --recover DEVID... over targets (one
 * mount point, or the member devices of an unmounted filesystem).
 * Returns the exit status: 0 clean, 1 mismatch, 2 error.
 */
int verify_stripes(char **targets, int nr_targets, const uint64_t *recover, unsigned int nr_recover,
		   bool json);

#endif
