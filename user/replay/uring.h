/* SPDX-License-Identifier: GPL-2.0 */
/*
 * io_uring plumbing shared by the `bbscope replay` subcommands: a ring with
 * registered files and buffers, and the pool of random data they write.
 *
 * The data pool is what makes a replay checkable: the bytes written at data
 * offset X are bbs_pool_at(pool, X), so what lands on a target depends only
 * on the offsets and the seed, never on the mode, order or queue depth.
 */
#ifndef BBS_URING_H
#define BBS_URING_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Set up ring for entries SQEs (IORING_SETUP_SINGLE_ISSUER and COOP_TASKRUN
 * when this kernel has them: then only the calling thread may use the ring,
 * including for the register calls), and register nr_fds files and nr_iov
 * buffers.  0, or -1 with why filled in ("cannot register ... : reason", no
 * "bbscope:" prefix); the ring is then torn down already.
 */
int bbs_uring_setup(struct io_uring *ring, unsigned int entries, const int *fds,
		    unsigned int nr_fds, const struct iovec *iov, unsigned int nr_iov, char *why,
		    size_t whylen);

/*
 * Unregister the files, then the buffers, then free the ring, from the thread
 * that set it up.  The files go first and explicitly: ring teardown is
 * asynchronous, and an O_EXCL claim on a block device would outlive us.
 */
void bbs_uring_teardown(struct io_uring *ring);

/* Random bytes, 4 KiB aligned, whose tail [len, map_len) repeats the head. */
struct bbs_pool {
	uint8_t *buf;
	size_t len; /* period: a multiple of 4 KiB, at most BBS_POOL_MAX */
	size_t map_len; /* len + the longest contiguous slice asked for */
};

#define BBS_POOL_MAX (64U << 20) /* twice the LLC here, so data is not cache-hot */
#define BBS_POOL_SEED 0x62627363ULL

/*
 * Fill a pool for a workload of span bytes whose slices are at most slice
 * bytes long: len is span rounded up to 4 KiB, capped at BBS_POOL_MAX.  The
 * same (span, seed) always gives the same bytes.  0, or -1 with errno set.
 */
int bbs_pool_init(struct bbs_pool *p, uint64_t span, size_t slice, uint64_t seed);
void bbs_pool_free(struct bbs_pool *p);

/* The data at offset off: slice bytes from here are contiguous. */
static inline uint8_t *bbs_pool_at(const struct bbs_pool *p, uint64_t off)
{
	return p->buf + off % p->len;
}

#endif
