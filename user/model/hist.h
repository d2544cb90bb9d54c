/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The names of the model (phases, ops, kinds, contexts, losses, why a phase
 * has no samples) and the latency histogram: slot arithmetic, adding,
 * merging, percentiles.  The BPF side fills struct bbs_hist (bbscope.h);
 * everything above reads it through these.  docs/json.md spells the names.
 */
#ifndef BBS_MODEL_HIST_H
#define BBS_MODEL_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include "bbscope.h"

extern const char *const bbs_phase_name[NR_PHASES];
extern const char *const bbs_op_name[BBS_NR_OPS];
extern const char *const bbs_kind_name[NR_KINDS];
extern const char *const bbs_ctx_name[NR_CTX];
extern const char *const bbs_lost_name[NR_LOST_BPF];

/* Phases that belong to one device's bios, and those that belong to the fs. */
static inline bool bbs_phase_is_device(int phase)
{
	return phase <= PHASE_TOTAL;
}

int bbs_phase_parse(const char *name);

/* Does a phase exist for an op?  ordered and rmw are writes', recover reads'. */
static inline bool bbs_phase_has_op(int phase, int op)
{
	if (phase == PHASE_ORDERED || phase == PHASE_RMW)
		return op == BBS_OP_WRITE;
	if (phase == PHASE_RECOVER)
		return op == BBS_OP_READ;
	return true;
}

/*
 * Why a phase has no samples, where bbscope knows (the JSON "reason" and
 * "detail", docs/json.md).  The tracer sets it per op and phase when it
 * starts, from what the kernel has (user/host/kernel.h).
 */
enum bbs_why {
	WHY_NONE, /* observable: no samples means none happened */
	WHY_NO_TRACEPOINT, /* a tracepoint it needs is not in this kernel or did not attach */
	WHY_ENDIO_INLINE, /* this kernel runs the btrfs end_io inline at the bio's completion */
	WHY_NO_BTRFS_BTF, /* btrfs has no BTF here: its work items cannot be read */
	WHY_NO_FUNCTION, /* this kernel has no function it is seen through */
	WHY_CSUM_IN_ENDIO, /* read checksums are verified inside the read end_io */
	WHY_CSUM_INLINE, /* observable, none seen: checksums ran inline in the submitter */
	WHY_BIO_BASED, /* queue of a bio-based device: no request, so no issue to end it */
	NR_WHY,
};

extern const char *const bbs_why_name[NR_WHY];
extern const char *const bbs_why_detail[NR_WHY];

/* Slot arithmetic, the inverse of the BPF side's hist_slot(). */
uint32_t bbs_hist_slot(uint64_t v);
uint64_t bbs_hist_slot_lo(uint32_t slot);
uint64_t bbs_hist_slot_hi(uint32_t slot); /* exclusive */

void bbs_hist_add(struct bbs_hist *h, uint64_t v);
void bbs_hist_merge(struct bbs_hist *dst, const struct bbs_hist *src);
/* p in [0, 1]; interpolated inside the bucket, never above max_ns. */
uint64_t bbs_hist_percentile(const struct bbs_hist *h, double p);

#endif
