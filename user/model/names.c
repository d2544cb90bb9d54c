// SPDX-License-Identifier: GPL-2.0
/* The names of the model's enums (model/hist.h): the words of docs/json.md. */
#include <string.h>

#include "model/hist.h"

const char *const bbs_phase_name[NR_PHASES] = {
	[PHASE_QUEUE] = "queue",     [PHASE_DEVICE] = "device", [PHASE_HOP] = "hop",
	[PHASE_ENDIO] = "endio",     [PHASE_TOTAL] = "total",	[PHASE_CSUM] = "csum",
	[PHASE_ORDERED] = "ordered", [PHASE_RMW] = "rmw",	[PHASE_RECOVER] = "recover",
};
const char *const bbs_op_name[BBS_NR_OPS] = { "read", "write" };
const char *const bbs_kind_name[NR_KINDS] = { "data", "metadata", "super" };
const char *const bbs_ctx_name[NR_CTX] = { "hardirq", "softirq", "task" };
const char *const bbs_lost_name[NR_LOST_BPF] = {
	[LOST_BIO_MAP_FULL] = "bio_map_full",
	[LOST_WORK_MAP_FULL] = "work_map_full",
	[LOST_RQ_WALK] = "rq_walk",
	[LOST_RINGBUF] = "ringbuf_full",
	[LOST_GROUP_MAP_FULL] = "group_map_full",
	[LOST_FUNC_STACK] = "func_stack",
};

const char *const bbs_why_name[NR_WHY] = {
	[WHY_NONE] = "none",
	[WHY_NO_TRACEPOINT] = "no_tracepoint",
	[WHY_ENDIO_INLINE] = "endio_inline",
	[WHY_NO_BTRFS_BTF] = "no_btrfs_btf",
	[WHY_NO_FUNCTION] = "no_function",
	[WHY_CSUM_IN_ENDIO] = "csum_in_endio",
	[WHY_CSUM_INLINE] = "csum_inline",
	[WHY_BIO_BASED] = "bio_based",
};

const char *const bbs_why_detail[NR_WHY] = {
	[WHY_NONE] = "",
	[WHY_NO_TRACEPOINT] = "a tracepoint it needs is not in this kernel or did not attach",
	[WHY_ENDIO_INLINE] = "this kernel runs the btrfs end_io inline at the bio's completion: "
			     "no work item to time",
	[WHY_NO_BTRFS_BTF] = "btrfs has no BTF on this kernel: its work items cannot be read",
	[WHY_NO_FUNCTION] = "this kernel has no function it is seen through",
	[WHY_CSUM_IN_ENDIO] = "read checksums are verified inside the read end_io (endio)",
	[WHY_CSUM_INLINE] = "none offloaded: checksums ran inline in the submitting task",
	[WHY_BIO_BASED] = "a bio-based device (zram, dm, md) has no request, so no queue to "
			  "time: its device phase runs from the bio's queueing",
};

const char *const bbs_under_name[NR_UNDER] = {
	[UNDER_FS] = "fs",
	[UNDER_RMW] = "rmw",
	[UNDER_RECOVER] = "recover",
	[UNDER_SCRUB] = "scrub",
};

int bbs_phase_parse(const char *name)
{
	for (int i = 0; i < NR_PHASES; i++)
		if (!strcmp(name, bbs_phase_name[i]))
			return i;
	return -1;
}
