/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one raid5/6 stripe geometry, as btrfs_map_block() lays out a raid56
 * chunk, for every place that needs it: btrfs/fs.c maps logical addresses
 * through it, replay/raid56.c lays its targets out by it, replay/workload.c
 * places recorded strip writes in it.
 *
 * A full stripe is nr_data strips of data followed by P (and Q for raid6),
 * each a stripe_len long (BBS_STRIPE_LEN on every btrfs), in struct
 * btrfs_raid_bio order: data 0 .. nr_data-1, then P, then Q, which is the
 * order btrfs/parity.h takes them in.  Full stripe f covers the chunk's data
 * [f * nr_data * stripe_len, (f + 1) * nr_data * stripe_len).  Its strip j
 * lies on chunk stripe (device) (f + j) mod n of the n, at f * stripe_len
 * from where that device's part of the chunk starts: parity rotates by one
 * device per full stripe.
 */
#ifndef BBS_BTRFS_STRIPE_H
#define BBS_BTRFS_STRIPE_H

#include <stdint.h>

#define BBS_STRIPE_LEN (64U << 10) /* BTRFS_STRIPE_LEN: one strip of a full stripe */

/* The device (chunk stripe index, of n) that strip j of full stripe f lies on. */
static inline unsigned int bbs_strip_dev(uint64_t f, unsigned int j, unsigned int n)
{
	return (f + j) % n;
}

/* The strip of full stripe f that lies on device dev (of n): bbs_strip_dev()'s inverse. */
static inline unsigned int bbs_dev_strip(uint64_t f, unsigned int dev, unsigned int n)
{
	return (dev + n - f % n) % n;
}

#endif
