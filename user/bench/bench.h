/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bbscope bench: btrfs's write path in the kernel and its userspace
 * reproductions measured side by side on this machine, beside the
 * async_csum series' model (bench/model.h).  `bbscope bench`
 * (cli/bench.c) parses the options and prints; bench/bench.c says how a run
 * goes, bench/internal.h how its files share the work.
 */
#ifndef BBS_BENCH_H
#define BBS_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "btrfs/csum.h"

#define BBS_BENCH_MAX_ROUNDS 99
#define BBS_BENCH_DEF_SIZE (256ULL << 20)
#define BBS_BENCH_DEF_BS (128ULL << 10)
#define BBS_BENCH_MAX_SWEEP 8 /* values of one --sweep parameter */

/* Where the sandbox's devices and the replay targets live. */
enum bbs_backing {
	BBS_BACK_TMPFS, /* a directory on tmpfs (/dev/shm) */
	BBS_BACK_FILE, /* a directory on disk (/var/tmp) */
	BBS_BACK_ZRAM, /* an ext4 on a zram device hot-added for the run */
	BBS_NR_BACKINGS,
};

extern const char *const bbs_backing_name[BBS_NR_BACKINGS];

struct bbs_bench_opts {
	const char *profile; /* NULL: single, or what --fs has */
	enum bbs_csum_type algo;
	bool have_algo; /* false: crc32c, or what --fs has */
	uint64_t size, bs;
	bool rand;
	bool fsync_only; /* --writeback fsync */
	enum bbs_backing backing;
	const char *backing_dir;
	unsigned int devices; /* 0: the sandbox's default for the profile */
	const char *fs;
	unsigned int rounds; /* 1 .. BBS_BENCH_MAX_ROUNDS */
	const char *html; /* also write the page here */
	bool have_bs; /* --bs given */
	bool direct; /* --workload direct: O_DIRECT writes at queue depth 1 */
	unsigned int qds[BBS_BENCH_MAX_SWEEP], nqd; /* --sweep qd=: 0 none (the replay's 16) */
	enum bbs_csum_type algos[BBS_BENCH_MAX_SWEEP]; /* --sweep algo= (replays only) */
	unsigned int nalgo;
	bool force; /* over an existing file */
};

struct bbs_bench;

/*
 * Whether what o asks for fits where it would go (--size against the free
 * space of its --backing: memory for tmpfs and zram, the filesystem for
 * file and --fs), checked before anything is made.  0, or -1 after one
 * error line with the numbers.
 */
int bbs_bench_check(const struct bbs_bench_opts *o);

/*
 * Bring up, measure o->rounds rounds, write the page, tear down
 * everything made (also on failure, SIGINT, SIGTERM and SIGHUP).  Needs
 * root.  Returns 0 with *out the results (bbs_bench_free()), 1 after an
 * error line, or 128 + N when signal N interrupted it.
 */
int bbs_bench_run(const struct bbs_bench_opts *o, struct bbs_bench **out);

/* The table, as printed and as the page shows it. */
const char *bbs_bench_table(const struct bbs_bench *b);
/* The JSON object of docs/json.md ("bbscope bench --json"); the caller owns it. */
json_t *bbs_bench_json(const struct bbs_bench *b);
void bbs_bench_free(struct bbs_bench *b);

#endif
