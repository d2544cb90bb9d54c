/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The write bios a replay submits: {offset, length, time} triples, from a
 * synthetic spec or from the data writes of a recording.  `replay csum` and
 * `replay parity` both walk this one list; neither cares where it came from.
 */
#ifndef BBS_WORKLOAD_H
#define BBS_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bbscope.h"

#define BBS_WL_BLOCK 4096U /* btrfs data sector size on x86: lengths are multiples */
#define BBS_WL_ALIGN 512U /* offsets are at least sector aligned */
#define BBS_WL_MAX_BIO (64U << 20) /* largest bio, bytes */
#define BBS_WL_MAX_BIOS (1U << 24) /* longest list (16M bios, 384 MiB of entries) */
#define BBS_WL_DEFAULT_BS (128U << 10)
#define BBS_WL_DEFAULT_SEED 1
#define BBS_WL_MIRROR_NS 1000000000ULL /* mirror copies are queued within 1 s */

struct bbs_wbio {
	uint64_t offset; /* bytes from the start of the target, BBS_WL_ALIGN aligned */
	uint64_t ts_ns; /* queue time from the first bio; 0 for a synthetic workload */
	uint32_t len; /* bytes, a multiple of BBS_WL_BLOCK, at most BBS_WL_MAX_BIO */
	uint32_t pad;
};

struct bbs_wl_src;

struct bbs_workload {
	struct bbs_wbio *bios;
	size_t nr, cap;
	uint64_t bytes; /* sum of len */
	uint64_t span; /* max(offset + len): the target must hold this many bytes */
	uint32_t max_len; /* longest bio */
	bool timed; /* ts_ns are recorded times (a trace), not all zero */
	struct bbs_wl_src *src; /* while importing a trace: where each bio came from */
};

enum bbs_wl_pattern {
	BBS_WL_SEQ, /* offsets 0, bs, 2 * bs, ... */
	BBS_WL_RAND, /* every bs slot of [0, size) exactly once, in a seeded random order */
};

struct bbs_synth_spec {
	uint64_t size; /* bytes written, a multiple of bs */
	uint64_t bs; /* bytes per bio */
	enum bbs_wl_pattern pattern;
	uint64_t seed;
};

/* The --help text of the synthetic SPEC grammar (bbs_synth_parse). */
extern const char bbs_synth_help[];

/*
 * Parse "size=256M,bs=128K,pattern=rand,seed=7".  0 on success; -1 with a
 * reason in err (no "bbscope:" prefix) on a bad spec.
 */
int bbs_synth_parse(const char *spec, struct bbs_synth_spec *out, char *err, size_t errlen);

void bbs_workload_init(struct bbs_workload *w);
void bbs_workload_free(struct bbs_workload *w);

/* Fill w (empty) with the bios of a parsed spec.  0, or -ENOMEM. */
int bbs_workload_synth(struct bbs_workload *w, const struct bbs_synth_spec *s);

/*
 * Append one bio.  offset BBS_WL_ALIGN aligned, len a non-zero multiple of
 * BBS_WL_BLOCK up to BBS_WL_MAX_BIO (otherwise -EINVAL).  0, -EINVAL, -E2BIG
 * (more than BBS_WL_MAX_BIOS) or -ENOMEM.
 */
int bbs_workload_add(struct bbs_workload *w, uint64_t offset, uint32_t len, uint64_t ts_ns);

/*
 * The recording path.  Feed every EV_BIO record of a trace; only data writes
 * (op write, kind data) are kept, at offset sector * 512 with ts_ns =
 * queue_ns.  Returns 1 if kept, 0 if filtered out, or a negative errno as
 * bbs_workload_add().
 */
int bbs_workload_add_event(struct bbs_workload *w, const struct bbs_event_bio *e);

/*
 * After the last bbs_workload_add_event(): drop mirror copies (a data write
 * with the logical address and length of one kept, placed elsewhere (another
 * device, or another offset: dup) and queued within BBS_WL_MIRROR_NS of it:
 * raid1/dup copies of one btrfs bio, whose checksum is computed once), order
 * the bios by queue time, make times relative to the first bio, shift
 * offsets so the lowest lands at 0 (a recording's device offsets then fit a
 * target of the written span) and mark the workload timed.  0, or -ENOMEM.
 */
int bbs_workload_finish_trace(struct bbs_workload *w);

/*
 * Load the data writes of a recording (`bbscope record` output) into w.
 * 0, or -1 after saying why (bbs_err).
 */
int bbs_workload_load_trace(struct bbs_workload *w, const char *path);

/*
 * --timing: "fast" (scale 0: submit as fast as the pipeline allows),
 * "recorded" (scale 1: a bio starts no earlier than its recorded time) or
 * "scale=X" (recorded times multiplied by X > 0; 0.5 replays twice as fast).
 * 0, or -1 on bad input.
 */
int bbs_timing_parse(const char *s, double *scale);

#endif
