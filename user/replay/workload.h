/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The write bios a replay submits: {offset, length, time} triples, from a
 * synthetic spec or from the writes of a recording.  `replay csum` and
 * `replay parity` both walk this one list.  What a recording gives differs:
 * `replay csum` takes its data bios at device offsets (bbs_workload_load_trace),
 * `replay parity` its raid5/6 data strip writes at offsets in the chunk's data
 * address space (bbs_workload_load_strips), so that the full stripes and data
 * strips of the replay are the recording's.
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
	unsigned int nr_data; /* strip writes: data strips per full stripe recorded, else 0 */
	unsigned int real_stripes; /* strip writes: strips per full stripe (data, P, Q) */
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
 * The raid5/6 path, for `replay parity`.  Feed every EV_STRIPE record of a
 * trace; only data strip writes (op write, kind data, stripe_nr < nr_data:
 * not P or Q, which the replay computes itself) are kept, with ts_ns = ts_ns.
 * The data a record writes is at logical address full_stripe + stripe_nr *
 * 64 KiB + offset; bbs_workload_finish_strips() gives it its offset in the
 * replay.  The first record kept sets w->nr_data and w->real_stripes.
 * Returns 1 if kept, 0 if filtered out, -EXDEV if its nr_data differs from
 * the records kept before (data chunks of different widths: no one chunk
 * geometry replays them), -EINVAL if it runs past its 64 KiB strip or is not
 * whole 4 KiB blocks, or a negative errno as bbs_workload_add().  Do not mix
 * with bbs_workload_add_event() in one workload.
 */
int bbs_workload_add_strip(struct bbs_workload *w, const struct bbs_event_stripe *e);

/*
 * After the last bbs_workload_add_strip(): place every strip write in the
 * data address space of one chunk, relative to the lowest full stripe kept,
 * L, keeping full stripes whole.  With D = nr_data * 64 KiB, a write at
 * offset o of data strip j of full stripe F lands at
 *
 *	X = ((F - L) / D) * D + j * 64 KiB + o
 *
 * so that X / D is its full stripe and (X / 64 KiB) mod nr_data its data
 * strip, as the recording wrote them.  Within one chunk full stripes are D
 * apart, so F - L is a multiple of D and the gaps between them are kept;
 * another chunk's start need not be D aligned, so the division rounds down
 * (distinct full stripes stay distinct: chunks do not overlap).  Offsets are
 * not rounded to 4 KiB blocks or shifted to start at 0 as the csum path's
 * are: full-stripe alignment is what the replay needs.  Then order the bios
 * by time, make times relative to the first and mark the workload timed.
 * 0 (also when empty).
 */
int bbs_workload_finish_strips(struct bbs_workload *w);

/*
 * Load the raid5/6 data strip writes of a recording into w, through
 * bbs_workload_add_strip() and bbs_workload_finish_strips().  0, or -1 after
 * saying why (bbs_err): also when the recording has none.
 */
int bbs_workload_load_strips(struct bbs_workload *w, const char *path);

/*
 * --timing: "fast" (scale 0: submit as fast as the pipeline allows),
 * "recorded" (scale 1: a bio starts no earlier than its recorded time) or
 * "scale=X" (recorded times multiplied by X > 0; 0.5 replays twice as fast).
 * 0, or -1 on bad input.
 */
int bbs_timing_parse(const char *s, double *scale);

#endif
