// SPDX-License-Identifier: GPL-2.0
/* io_uring rings and data pools for the replay subcommands. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "replay/uring.h"

#define POOL_ALIGN 4096U

int bbs_uring_setup(struct io_uring *ring, unsigned int entries, const int *fds,
		    unsigned int nr_fds, const struct iovec *iov, unsigned int nr_iov, char *why,
		    size_t whylen)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
	};
	size_t bytes = 0;
	int ret;

	ret = io_uring_queue_init_params(entries, ring, &p);
	if (ret == -EINVAL) {
		/* Before 6.0: no SINGLE_ISSUER.  Plain rings behave the same, a bit slower. */
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(entries, ring, &p);
	}
	if (ret) {
		snprintf(why, whylen, "cannot set up io_uring: %s", strerror(-ret));
		return -1;
	}
	ret = io_uring_register_files(ring, fds, nr_fds);
	if (ret) {
		snprintf(why, whylen, "cannot register %u file%s with io_uring: %s", nr_fds,
			 nr_fds > 1 ? "s" : "", strerror(-ret));
		goto err_exit;
	}
	ret = io_uring_register_buffers(ring, iov, nr_iov);
	if (ret) {
		for (unsigned int i = 0; i < nr_iov; i++)
			bytes += iov[i].iov_len;
		snprintf(why, whylen, "cannot register %zu MiB of buffers with io_uring: %s%s",
			 bytes >> 20, strerror(-ret),
			 ret == -ENOMEM ? " (raise the locked-memory limit)" : "");
		io_uring_unregister_files(ring);
		goto err_exit;
	}
	return 0;

err_exit:
	io_uring_queue_exit(ring);
	return -1;
}

void bbs_uring_teardown(struct io_uring *ring)
{
	io_uring_unregister_files(ring);
	io_uring_unregister_buffers(ring);
	io_uring_queue_exit(ring);
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int bbs_pool_init(struct bbs_pool *p, uint64_t span, size_t slice, uint64_t seed)
{
	uint64_t len = (span + POOL_ALIGN - 1) / POOL_ALIGN * POOL_ALIGN;
	uint64_t state = seed;

	p->len = len < BBS_POOL_MAX ? len : BBS_POOL_MAX;
	if (!p->len)
		p->len = POOL_ALIGN;
	p->map_len = p->len + slice;
	p->buf = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->buf == MAP_FAILED) {
		p->buf = NULL;
		return -1;
	}
	for (size_t i = 0; i < p->len / 8; i++)
		((uint64_t *)p->buf)[i] = splitmix64(&state);
	/* The tail repeats the head: a slice near the end reads on contiguously. */
	for (size_t i = p->len; i < p->map_len; i += p->len)
		memcpy(p->buf + i, p->buf, p->map_len - i < p->len ? p->map_len - i : p->len);
	return 0;
}

void bbs_pool_free(struct bbs_pool *p)
{
	if (p->buf)
		munmap(p->buf, p->map_len);
	p->buf = NULL;
}
