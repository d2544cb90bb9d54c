/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A recorded trace in the formats other tools read (render/export.c): blktrace
 * binary files for blkparse and btt, and a fio iolog.  `bbscope export`
 * (cli/export.c) is the command.
 */
#ifndef BBS_RENDER_EXPORT_H
#define BBS_RENDER_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "tracefile/tracefile.h"

/* A device of the export, named as the files are. */
struct bbs_export_dev {
	uint32_t kdev;
	char name[64];
	uint64_t bios;
	uint64_t events; /* blktrace: Q, I, D and C records */
};

struct bbs_export_result {
	struct bbs_export_dev *devs;
	uint32_t nr_devs;
	uint32_t cpus; /* blktrace: files per device, <dev>.blktrace.0 .. cpus-1 */
	uint64_t no_complete, no_issue; /* blktrace: bios left out, and why */
	uint64_t ios, skipped; /* fio iolog: I/Os written, bios left out */
};

/*
 * Write DIR/<dev>.blktrace.<cpu> for every device and CPU of the trace, for
 * 'blkparse -i <dev> -D DIR'.  0 with res filled (bbs_export_free()),
 * -EEXIST when a file is there and force is not (nothing written), -EINVAL
 * for a path host/outfile.h refuses, another negative errno after one error
 * line.  Files are written as host/outfile.h says: never renamed over a
 * device, never through a planted symlink.
 */
int bbs_export_blktrace(struct bbs_tf_reader *rd, const char *dir, bool force,
			struct bbs_export_result *res);

/*
 * Write a fio iolog (version 3) of the data bios (every bio with all) to
 * out, atomically.  Returns as bbs_export_blktrace().
 */
int bbs_export_iolog(struct bbs_tf_reader *rd, const char *out, bool all, bool force,
		     struct bbs_export_result *res);

void bbs_export_free(struct bbs_export_result *res);

#endif
