/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a finished bio contributes: the phases and contexts of one bio
 * record, the group of a span (finish_bio(), span_account() and
 * on_ordered_remove() in bpf/bbscope.bpf.c), and what a data write is.
 * The records are bbscope.h's, as the ring buffer and the trace file
 * (tracefile/tracefile.h) carry them.
 */
#ifndef BBS_MODEL_BIO_H
#define BBS_MODEL_BIO_H

#include <stdbool.h>
#include <stdint.h>

#include "bbscope.h"

struct bbs_bio_phases {
	uint64_t ns[NR_PHASES];
	uint32_t have; /* bit per phase present in ns[] */
	bool complete_ctx; /* counts in stats.complete_ctx[complete_ctx] */
	bool endio_ctx; /* counts in stats.endio_ctx[endio_ctx] */
};

/*
 * The one user-space copy of finish_bio()'s derivation: which phases a bio
 * record yields and their values, bit-identical to what the tracer put in
 * its histograms for the same bio.
 */
void bbs_bio_phases(const struct bbs_event_bio *e, struct bbs_bio_phases *p);
/*
 * The group and phase the tracer puts a span under: span_account() and
 * on_ordered_remove() in bpf/.
 */
void bbs_span_group(const struct bbs_event_span *e, struct bbs_group *g);

/*
 * What a data write is, in a recording: the one definition that `replay
 * csum` replays (replay/workload.c) and bench times (bench/rounds.c).
 *
 * A data write bio: op write, kind data (every copy of a mirrored one).
 */
static inline bool bbs_bio_data_write(const struct bbs_event_bio *e)
{
	return e->op == BBS_OP_WRITE && e->kind == KIND_DATA;
}

/*
 * A raid5/6 data strip write: op write, kind data, a data strip (stripe_nr
 * below nr_data), not P or Q, which a replay computes itself.
 */
static inline bool bbs_stripe_data_write(const struct bbs_event_stripe *e)
{
	return e->op == BBS_OP_WRITE && e->kind == KIND_DATA && e->stripe_nr < e->nr_data;
}

#endif
