/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bbscope trace file: what `record` writes and `report` and `export`
 * read.  docs/format.md is the specification; tracefile/write.c and
 * tracefile/read.c are its implementation, tracefile/wire.h their encoding.
 *
 *   preamble  "BBSTRACE", le32 version, le32 flags (0)          16 bytes
 *   chunk     le32 type, le32 seq, le32 len, le32 crc32c; len bytes of payload
 *
 * The first chunk is the header, the last one the trailer.  Each chunk goes
 * to the file in one write(), so a killed recorder leaves a file readable up
 * to its last complete chunk.  All integers are little endian.
 *
 * Nothing here touches the running system: names of devices and
 * filesystems come from a caller's resolver, so the reader can be fuzzed and
 * the writer unit tested anywhere.
 */
#ifndef BBS_TRACEFILE_H
#define BBS_TRACEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bbscope.h"
#include "model/bio.h"
#include "model/report.h"

#define TF_MAGIC "BBSTRACE"
#define TF_VERSION 1
#define TF_PREAMBLE_LEN 16
#define TF_CHUNK_HDR_LEN 16
#define TF_CHUNK_MAX (1U << 20) /* largest payload a reader accepts */
#define TF_EVENTS_TARGET (64U << 10) /* the writer closes an events chunk here */

enum tf_chunk_type {
	TF_CHUNK_HEADER = 1,
	TF_CHUNK_NAMES,
	TF_CHUNK_EVENTS,
	TF_CHUNK_LOST,
	TF_CHUNK_TRAILER,
	TF_CHUNK_PHASES, /* right after the header: why each phase cannot be seen */
	TF_CHUNK_FUNCS, /* function phases (record --func): an interval's histograms */
	TF_CHUNK_PRODUCER, /* after the header (and phases): the bbscope version and commit */
};

/* Records inside an events chunk; the first byte is the type. */
enum tf_rec_type {
	TF_REC_BIO = 1, /* 48 bytes: the common case */
	TF_REC_BIO_WIDE, /* 72 bytes: a bio whose values do not fit TF_REC_BIO */
	TF_REC_LOGICAL, /* 16 bytes: btrfs logical address of the bio just before */
	TF_REC_SPAN, /* 24 bytes: csum, ordered, rmw, recover */
	TF_REC_STRIPE, /* 48 bytes: raid56 per-device stripe I/O */
};

#define TF_REC_BIO_LEN 48
#define TF_REC_BIO_WIDE_LEN 72
#define TF_REC_LOGICAL_LEN 16
#define TF_REC_SPAN_LEN 24
#define TF_REC_STRIPE_LEN 48

/* Name tables; records carry indexes.  Index 0 of every table is "none". */
enum tf_table {
	TF_DEV, /* value: dev_t (kernel encoding), name: "loop0" */
	TF_FS, /* value: btrfs s_dev, name: mount point at record time */
	TF_COMM, /* value: 0, name: submitting task's comm */
	TF_WQ, /* value: 0, name: end_io workqueue */
	TF_NR_TABLES,
};

#define TF_NAME_MAX 4095
#define TF_TABLE_MAX 0xffff /* entries per table, index 0 included */

/* User-space loss counters written beside the per-CPU BPF ones. */
enum tf_user_lost {
	TF_LOST_EVICTED, /* in-flight state evicted by the tracer's sweep */
	TF_LOST_BAD_RECORD, /* ring buffer records of an unknown type or size */
	TF_LOST_NAMES_FULL, /* a name table was full: the record names index 0 */
	TF_LOST_SKIPPED_RUNS, /* runs of the tracer's programs the kernel skipped */
	TF_NR_USER_LOST,
};

#define TF_MAX_SYMS 64
#define TF_STR_MAX 1024

struct bbs_tf_sym {
	uint64_t addr;
	char name[64];
};

/* What the header says about the recording. */
struct bbs_tf_header {
	uint64_t mono_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) at start: the clock base */
	uint64_t real_ns; /* CLOCK_REALTIME at the same moment */
	uint32_t ncpus;
	uint32_t phase_unavailable; /* bit per enum bbs_phase: tracepoint missing */
	uint32_t filter_fs; /* --fs, 0 = all */
	uint32_t filter_dev; /* --dev, 0 = all */
	char kernel[65]; /* uname -r */
	char host[65];
	char command[TF_STR_MAX]; /* the recorded command, "" when none */
	uint32_t nr_syms;
	struct bbs_tf_sym syms[TF_MAX_SYMS]; /* the resolved symbol table */
	/* The phases chunk; absent in recordings made before it (phase_unavailable). */
	bool have_phase_why;
	uint8_t phase_why[2][16]; /* [enum bbs_op][enum bbs_phase]: enum bbs_why */
	char tracer[16]; /* "tp_btf" or "raw_tp" */
	uint32_t sample; /* --sample N: one bio in N recorded (0: every bio) */
	/* The producer chunk; "" in recordings made before it. */
	char version[32]; /* the bbscope that recorded: release */
	char commit[64]; /* and the commit it was built from */
};

/* ---- writer ---- */

struct bbs_tf_writer;

/* Name of a dev_t for TF_DEV / TF_FS; NULL means "major:minor". */
typedef const char *(*bbs_tf_resolve_fn)(enum tf_table table, uint32_t value, char *buf,
					 size_t len);

struct bbs_tf_wopts {
	bbs_tf_resolve_fn resolve; /* NULL: every name is "major:minor" */
	const uint32_t *fs; /* filesystems and devices named in the header */
	uint32_t nr_fs;
	const uint32_t *dev;
	uint32_t nr_dev;
};

/*
 * Start a trace on fd (a regular file open for writing, empty): writes the
 * preamble and the header chunk.  0 or -errno.  The writer does not own fd;
 * it writes with pwrite() at the offsets it keeps.
 */
int bbs_tfw_open(struct bbs_tf_writer **out, int fd, const struct bbs_tf_header *h,
		 const struct bbs_tf_wopts *o);
/*
 * One ring buffer record (struct bbs_event_bio/_span/_stripe, told apart by
 * their first byte).  A record of unknown type or short length is counted
 * (TF_LOST_BAD_RECORD), not written.  Writes a chunk when the current one is
 * full.  0, or -errno of a failed write: from then on records are counted as
 * unwritten and the file ends at its last complete chunk.
 */
int bbs_tfw_event(struct bbs_tf_writer *w, const void *data, size_t len);
/*
 * Cumulative loss counters at now_ns: BPF's, per CPU
 * (percpu[cpu * nr_reasons + reason]), and evictions.  Written with the next
 * flush when they changed; the writer adds its own TF_LOST_BAD_RECORD and
 * TF_LOST_NAMES_FULL.
 */
/*
 * Function phases (record --func) of one interval, from r's func, func_off
 * and funcs: a funcs chunk at the next flush.  A no-op when r has none.
 */
int bbs_tfw_funcs(struct bbs_tf_writer *w, const struct bbs_report *r);

/*
 * The loss counters, cumulative: per CPU and reason from BPF, the bios the
 * sweep evicted, and the runs of the tracer's programs the kernel skipped
 * (recursion_misses); written with the next flush when they changed.
 */
void bbs_tfw_set_lost(struct bbs_tf_writer *w, uint64_t now_ns, const uint64_t *percpu,
		      uint32_t ncpus, uint32_t nr_reasons, uint64_t evicted, uint64_t skipped_runs);
/* Write what is pending (names, events, lost) as whole chunks, in one write. */
int bbs_tfw_flush(struct bbs_tf_writer *w);
/*
 * Flush, then write the trailer (end time as bpf_ktime ns, and the errno
 * that ended the recording, 0 if none; an earlier failed write's errno is
 * recorded anyway).  Tried even after a failed write: cutting off the half
 * chunk may have freed the room.  0 when the trailer was written, or -errno.
 */
int bbs_tfw_finish(struct bbs_tf_writer *w, uint64_t end_ns, int end_errno);
void bbs_tfw_free(struct bbs_tf_writer *w);

struct bbs_tf_wstats {
	uint64_t bytes; /* file size: complete chunks only */
	uint64_t chunks;
	uint64_t bios, spans, stripes; /* records in written chunks */
	uint64_t wide; /* bios that needed TF_REC_BIO_WIDE */
	uint64_t unwritten; /* records accepted but lost to a failed write */
	uint64_t pending; /* records buffered, not yet written */
};
void bbs_tfw_stats(const struct bbs_tf_writer *w, struct bbs_tf_wstats *s);

/* ---- reader ---- */

struct bbs_tf_reader;

/* One decoded record, in the tracer's own layout and clock (absolute ns). */
struct bbs_tf_event {
	uint8_t type; /* enum bbs_event_type */
	union {
		struct bbs_event_bio bio; /* comm, wq NUL-terminated */
		struct bbs_event_span span; /* id is not recorded: 0 */
		struct bbs_event_stripe stripe;
	};
};

struct bbs_tf_status {
	uint64_t size; /* bytes given to the reader */
	uint64_t good; /* bytes in valid chunks read so far */
	uint64_t chunks;
	uint64_t bios, spans, stripes;
	bool trailer; /* the recording ended properly */
	bool stopped; /* reading stopped early: truncated or corrupt; see why */
	char why[192];
	uint32_t end_errno; /* from the trailer: what ended the recording */
	uint64_t unwritten; /* from the trailer: records lost to a failed write */
	uint64_t end_ns; /* trailer's end, else the latest timestamp read */
};

struct bbs_tf_lost {
	bool seen; /* a lost chunk or the trailer was read */
	uint32_t ncpus;
	uint32_t nr_reasons;
	const uint64_t *percpu; /* [cpu * nr_reasons + reason], cumulative */
	uint64_t total[NR_LOST_BPF]; /* summed over CPUs (reasons this build knows) */
	uint64_t other; /* reasons this build does not know */
	uint64_t user[TF_NR_USER_LOST];
};

/*
 * Open a trace held in memory (buf must stay valid until close).  Fails,
 * with a one-line reason in err, when it is not a readable bbscope trace:
 * -ENODATA empty, -EINVAL bad magic or header (or a corrupt first chunk
 * after it: nothing could be read), -EPROTONOSUPPORT unknown version.
 * Anything after a good header is read up to the first bad chunk.
 */
int bbs_tfr_open_mem(struct bbs_tf_reader **out, const void *buf, size_t len, char *err,
		     size_t errlen);
/*
 * The same for a file (mapped read-only); -errno of open/mmap as well, and
 * -EINVAL for what is not a regular file (a FIFO is refused, not waited on).
 */
int bbs_tfr_open(struct bbs_tf_reader **out, const char *path, char *err, size_t errlen);
void bbs_tfr_close(struct bbs_tf_reader *r);

/* Next record: 1, or 0 at the end (of the file, or of what could be read). */
int bbs_tfr_next(struct bbs_tf_reader *r, struct bbs_tf_event *ev);

const struct bbs_tf_header *bbs_tfr_header(const struct bbs_tf_reader *r);
const struct bbs_tf_status *bbs_tfr_status(const struct bbs_tf_reader *r);
const struct bbs_tf_lost *bbs_tfr_lost(const struct bbs_tf_reader *r);
/*
 * The function phases of the chunks read so far, summed (func, func_off,
 * funcs of the report model; nothing else set), or NULL when none.
 */
const struct bbs_report *bbs_tfr_funcs(const struct bbs_tf_reader *r);
/*
 * Tell f ("bbscope: warning: ..." lines) everything a reader must not keep
 * quiet about: truncation or corruption and how much was read, a missing
 * trailer, a recording ended by a write error, and every loss, per CPU.
 * Call it after reading.
 */
void bbs_tfr_warn(const struct bbs_tf_reader *r, const char *path, FILE *f);
/* Recorded name of a dev_t (TF_DEV, TF_FS); NULL when the file has none. */
const char *bbs_tfr_name(const struct bbs_tf_reader *r, enum tf_table table, uint32_t value);

#endif
