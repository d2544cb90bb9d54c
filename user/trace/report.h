/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The histograms of a recorded trace: what `bbscope hist` would have
 * printed for the same bios (the same struct bbs_report, model/report.h),
 * built from the trace file's records, grouped by the dimensions --by
 * keeps.  `bbscope report` (cli/report.c) prints it.
 */
#ifndef BBS_TRACE_REPORT_H
#define BBS_TRACE_REPORT_H

#include <stddef.h>

#include "model/report.h"
#include "tracefile/tracefile.h"

/* The dimensions of a group: --by. */
enum bbs_by {
	BBS_BY_FS = 1 << 0,
	BBS_BY_DEV = 1 << 1,
	BBS_BY_OP = 1 << 2,
	BBS_BY_KIND = 1 << 3,
	BBS_BY_COMM = 1 << 4,
};
#define BBS_BY_DEFAULT (BBS_BY_FS | BBS_BY_DEV | BBS_BY_OP | BBS_BY_KIND)
/* A device group whose device --by leaves out: non-zero, so render/ keeps its device phases. */
#define BBS_DEV_ANY 0xffffffffU

/* "fs,dev,op,kind,comm", any of them, into a mask.  0, or -1 on bad input. */
int bbs_by_parse(const char *s, unsigned int *by);

/* One report per submitting comm when --by has comm. */
struct bbs_trace_slice {
	char comm[16];
	struct bbs_report r;
};

struct bbs_trace_report {
	unsigned int by; /* enum bbs_by mask, set before building */
	struct bbs_report all; /* every record: the top-level keys, and the groups without comm */
	struct bbs_trace_slice *slices; /* by comm, sorted, when by has BBS_BY_COMM */
	size_t nr, cap, last;
};

/*
 * Read every record of rd into m (zeroed, by set): groups, phases, losses
 * and the recording's length.  0, or -ENOMEM.
 */
int bbs_trace_report_build(struct bbs_trace_report *m, struct bbs_tf_reader *rd);
void bbs_trace_report_free(struct bbs_trace_report *m);

#endif
