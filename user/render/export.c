// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope export: a recorded trace in the formats other tools read.
 *
 *   --blktrace    blktrace binary files (struct blk_io_trace, version 7), one
 *                 per device and CPU, named <dev>.blktrace.<cpu>, for
 *                 `blkparse -i <dev> -D DIR` and btt.  Each bio becomes
 *                 Q (block_bio_queue), I and D (block_rq_issue: bbscope does
 *                 not trace the insert, so I is put at D) and C (completion),
 *                 with the RWBS bits of its op and flags, on the CPU it
 *                 completed on.  Bio-based devices have no request: I and D
 *                 are put at Q, so D2C is bbscope's device phase there too.
 *                 A process note precedes each pid's first event in a file,
 *                 so blkparse shows comms; a timestamp note gives the
 *                 recording's wall clock.
 *   --fio-iolog   a fio iolog version 3 of the data I/O (all I/O with --all),
 *                 in queue order, timestamps in microseconds from the first.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/blktrace_api.h>

#include "render/export.h"
#include "model/report.h"
#include "tracefile/tracefile.h"
#include "host/outfile.h"
#include "host/util.h"
#include "host/array.h"

/* ---- blktrace ---- */

struct bt_ev {
	uint64_t time; /* ns since the clock base */
	uint64_t sector;
	uint32_t bytes;
	uint32_t action;
	uint32_t pid;
	uint32_t comm; /* index in comms */
	uint32_t order; /* creation order: Q, I, D, C of a bio stay in that order */
	uint16_t dev; /* index in devs */
	uint16_t cpu;
};

struct bt {
	struct bt_ev *ev;
	size_t nr, cap;
	struct bbs_export_dev *devs;
	uint32_t nr_devs;
	char (*comms)[16];
	uint32_t nr_comms, cap_comms, last_comm;
	uint32_t max_cpu;
	uint64_t no_complete, no_issue;
};

/*
 * A device name from a recording, as a device name can be: it becomes a file
 * name (<dev>.blktrace.<cpu>) and a word of a fio iolog line (/dev/<dev>),
 * and the recording may be anyone's.  Kernel disk names are letters, digits
 * and a few marks ("nvme0n1p2", "dm-3", "cciss!c0d0"); every other byte
 * ('/', blanks, newlines that would add iolog lines, control bytes, non-ASCII)
 * becomes '_', and so does a leading '.' ("..").  The kernel's blktrace
 * replaces '/' the same way.
 */
static void dev_name_safe(char *name)
{
	for (char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!+,-.:@_", *p))
			*p = '_';
	if (name[0] == '.')
		name[0] = '_';
	if (!name[0])
		snprintf(name, 2, "_");
}

static int bt_dev_index(struct bt *b, const struct bbs_tf_reader *rd, uint32_t kdev)
{
	const char *name;
	struct bbs_export_dev *d;

	for (uint32_t i = 0; i < b->nr_devs; i++)
		if (b->devs[i].kdev == kdev)
			return i;
	if (b->nr_devs >= 0xffff)
		return -ENOSPC;
	d = realloc(b->devs, (b->nr_devs + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	b->devs = d;
	d = &b->devs[b->nr_devs];
	memset(d, 0, sizeof(*d));
	d->kdev = kdev;
	name = bbs_tfr_name(rd, TF_DEV, kdev);
	if (name)
		snprintf(d->name, sizeof(d->name), "%s", name);
	else
		snprintf(d->name, sizeof(d->name), "%u,%u", kdev >> 20, kdev & 0xfffff);
	dev_name_safe(d->name);
	return b->nr_devs++;
}

static int bt_comm_index(struct bt *b, const char *comm)
{
	if (b->last_comm < b->nr_comms && !strcmp(b->comms[b->last_comm], comm))
		return b->last_comm;
	for (uint32_t i = 0; i < b->nr_comms; i++)
		if (!strcmp(b->comms[i], comm))
			return b->last_comm = i;
	if (b->nr_comms == b->cap_comms) {
		uint32_t cap = b->cap_comms ? 2 * b->cap_comms : 64;
		char(*c)[16] = realloc(b->comms, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		b->comms = c;
		b->cap_comms = cap;
	}
	snprintf(b->comms[b->nr_comms], 16, "%s", comm);
	return b->last_comm = b->nr_comms++;
}

static int bt_push(struct bt *b, uint64_t time, const struct bbs_event_bio *e, uint32_t action,
		   uint32_t pid, int dev, int comm)
{
	struct bt_ev *x;

	x = bbs_array_reserve(b->ev, &b->cap, b->nr + 1, sizeof(*x), 65536);
	if (!x)
		return -ENOMEM;
	b->ev = x;
	x = &b->ev[b->nr];
	x->time = time;
	x->sector = e->sector;
	x->bytes = e->bytes;
	x->action = action;
	x->pid = pid;
	x->comm = comm;
	x->order = b->nr++;
	x->dev = dev;
	x->cpu = e->cpu_complete;
	return 0;
}

/* The category bits the kernel's blktrace adds for a bio's op and flags (RWBS). */
static uint32_t rwbs(const struct bbs_event_bio *e)
{
	uint32_t tc = e->op == BBS_OP_WRITE ? BLK_TC_WRITE : BLK_TC_READ;

	if (e->flags & BIO_F_SYNC)
		tc |= BLK_TC_SYNC;
	if (e->flags & BIO_F_META)
		tc |= BLK_TC_META;
	if (e->flags & BIO_F_FUA)
		tc |= BLK_TC_FUA;
	if (e->flags & BIO_F_PREFLUSH)
		tc |= BLK_TC_FLUSH;
	return BLK_TC_ACT(tc);
}

static int bt_add_bio(struct bt *b, const struct bbs_tf_reader *rd, const struct bbs_event_bio *e)
{
	uint64_t base = bbs_tfr_header(rd)->mono_ns, q = e->queue_ns - base, d, c;
	uint32_t rw = rwbs(e), fs = BLK_TC_ACT(BLK_TC_FS);
	int dev, comm, err;

	if (!e->complete_ns) {
		b->no_complete++;
		return 0;
	}
	if (e->flags & BIO_F_BIO_BASED) {
		d = q;
	} else if (e->issue_ns) {
		d = e->issue_ns - base;
	} else {
		b->no_issue++;
		return 0;
	}
	c = e->complete_ns - base;
	dev = bt_dev_index(b, rd, e->dev);
	comm = bt_comm_index(b, e->comm);
	if (dev < 0 || comm < 0)
		return dev < 0 ? dev : comm;
	err = bt_push(b, q, e, BLK_TA_QUEUE | rw, e->pid, dev, comm);
	err = err ?: bt_push(b, d, e, BLK_TA_INSERT | rw | fs, e->pid, dev, comm);
	err = err ?: bt_push(b, d, e, BLK_TA_ISSUE | rw | fs, e->pid, dev, comm);
	err = err ?: bt_push(b, c, e, BLK_TA_COMPLETE | rw | fs, 0, dev, comm);
	if (!err) {
		b->devs[dev].bios++;
		if (e->cpu_complete > b->max_cpu)
			b->max_cpu = e->cpu_complete;
	}
	return err;
}

static int bt_cmp(const void *pa, const void *pb)
{
	const struct bt_ev *a = pa, *b = pb;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->cpu != b->cpu)
		return a->cpu < b->cpu ? -1 : 1;
	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static void bt_path(char *buf, size_t len, const char *dir, const struct bbs_export_dev *d,
		    uint32_t cpu)
{
	snprintf(buf, len, "%s/%s.blktrace.%u", dir, d->name, cpu);
}

static int bt_write(FILE *f, const struct blk_io_trace *t, const void *pdu)
{
	if (fwrite(t, sizeof(*t), 1, f) != 1)
		return -1;
	if (pdu && t->pdu_len && fwrite(pdu, t->pdu_len, 1, f) != 1)
		return -1;
	return 0;
}

/* Write one device's events on one CPU: a time-ordered stream, sequence from 1. */
static int bt_write_file(struct bt *b, const struct bbs_tf_reader *rd, const char *path, size_t *i,
			 uint16_t dev, uint32_t cpu)
{
	const struct bbs_tf_header *h = bbs_tfr_header(rd);
	struct blk_io_trace t;
	uint32_t seq = 0, *noted = NULL, nr_noted = 0;
	struct bbs_out out;
	FILE *f;
	int ret;

	ret = bbs_out_open(&out, path, BBS_OUT_FORCE | BBS_OUT_NOFOLLOW);
	if (ret) {
		bbs_err("cannot write %s: %s", path, out.why);
		return ret;
	}
	f = bbs_out_stream(&out);
	if (!f) {
		bbs_out_abort(&out);
		bbs_err("cannot write %s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	memset(&t, 0, sizeof(t));
	t.magic = BLK_IO_TRACE_MAGIC | BLK_IO_TRACE_VERSION;
	t.device = b->devs[dev].kdev;
	if (cpu == 0) {
		/* The recording's wall clock at the clock base, as blktrace notes it. */
		uint32_t two[2] = { h->real_ns / 1000000000ULL, h->real_ns % 1000000000ULL };

		t.action = BLK_TN_TIMESTAMP;
		t.pdu_len = sizeof(two);
		if (bt_write(f, &t, two))
			ret = -EIO;
	}
	for (; !ret && *i < b->nr && b->ev[*i].dev == dev && b->ev[*i].cpu == cpu; (*i)++) {
		const struct bt_ev *x = &b->ev[*i];
		uint32_t k;

		t.time = x->time;
		t.cpu = cpu;
		if (x->pid) {
			/* A process note before a pid's first event here, for blkparse's comm. */
			for (k = 0; k < nr_noted && noted[k] != x->pid; k++)
				;
			if (k == nr_noted) {
				uint32_t *n = realloc(noted, (nr_noted + 1) * sizeof(*n));

				if (!n) {
					ret = -ENOMEM;
					break;
				}
				noted = n;
				noted[nr_noted++] = x->pid;
				t.action = BLK_TN_PROCESS;
				t.pid = x->pid;
				t.sequence = 0;
				t.sector = 0;
				t.bytes = 0;
				t.pdu_len = 16;
				if (bt_write(f, &t, b->comms[x->comm])) {
					ret = -EIO;
					break;
				}
			}
		}
		t.sequence = ++seq;
		t.sector = x->sector;
		t.bytes = x->bytes;
		t.action = x->action;
		t.pid = x->pid;
		t.pdu_len = 0;
		if (bt_write(f, &t, NULL))
			ret = -EIO;
		b->devs[dev].events++;
	}
	free(noted);
	if (ret) {
		bbs_out_abort(&out);
		bbs_err("cannot write %s: %s", path, strerror(-ret));
	} else if (bbs_out_commit(&out)) {
		ret = -EIO;
		bbs_err("cannot write %s: %s", path, out.why);
	}
	return ret;
}

int bbs_export_blktrace(struct bbs_tf_reader *rd, const char *dir, bool force,
			struct bbs_export_result *res)
{
	const struct bbs_tf_header *h = bbs_tfr_header(rd);
	struct bt b = { 0 };
	struct bbs_tf_event ev;
	struct stat st;
	uint32_t ncpus;
	char path[4096];
	size_t i = 0;
	int err = 0;

	memset(res, 0, sizeof(*res));
	while (!err && bbs_tfr_next(rd, &ev) == 1)
		if (ev.type == EV_BIO)
			err = bt_add_bio(&b, rd, &ev.bio);
	if (err) {
		bbs_err("cannot export: %s", strerror(-err));
		goto out;
	}
	ncpus = h->ncpus > b.max_cpu + 1 ? h->ncpus : b.max_cpu + 1;
	if (mkdir(dir, 0755) && errno != EEXIST) {
		bbs_err("cannot create %s: %s", dir, strerror(errno));
		err = -errno;
		goto out;
	}
	/* Refuse before writing anything; with --force, also drop higher CPUs' files. */
	for (uint32_t d = 0; d < b.nr_devs; d++) {
		for (uint32_t cpu = 0;; cpu++) {
			bt_path(path, sizeof(path), dir, &b.devs[d], cpu);
			if (access(path, F_OK))
				break;
			if (!force) {
				bbs_err("%s exists (use --force to overwrite it)", path);
				err = -EEXIST;
				goto out;
			}
			/* Only a file of ours: a device or link there is left alone. */
			if (cpu >= ncpus && !lstat(path, &st) && S_ISREG(st.st_mode))
				unlink(path);
		}
	}
	qsort(b.ev, b.nr, sizeof(*b.ev), bt_cmp);
	/* Every CPU's file exists, empty or not: blkparse stops at the first missing one. */
	for (uint16_t d = 0; !err && d < b.nr_devs; d++) {
		for (uint32_t cpu = 0; !err && cpu < ncpus; cpu++) {
			bt_path(path, sizeof(path), dir, &b.devs[d], cpu);
			err = bt_write_file(&b, rd, path, &i, d, cpu);
		}
	}
	if (err)
		goto out;
	res->cpus = ncpus;
	res->no_complete = b.no_complete;
	res->no_issue = b.no_issue;
	res->devs = b.devs;
	res->nr_devs = b.nr_devs;
	b.devs = NULL;
out:
	free(b.ev);
	free(b.devs);
	free(b.comms);
	return err;
}

/* ---- fio iolog ---- */

struct io {
	uint64_t time;
	uint64_t offset;
	uint32_t len;
	uint16_t dev;
	uint8_t write;
	uint32_t order;
};

static int io_cmp(const void *pa, const void *pb)
{
	const struct io *a = pa, *b = pb;

	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* The I/Os of an iolog, collected from the trace and sorted by time. */
struct iolog {
	struct bt b; /* its device table */
	struct io *io;
	size_t nr, cap;
	uint64_t skipped;
};

static int iolog_add(struct iolog *l, const struct bbs_tf_reader *rd, const struct bbs_event_bio *e)
{
	int dev = bt_dev_index(&l->b, rd, e->dev);
	struct io *n;

	if (dev < 0)
		return dev;
	n = bbs_array_reserve(l->io, &l->cap, l->nr + 1, sizeof(*n), 65536);
	if (!n)
		return -ENOMEM;
	l->io = n;
	l->io[l->nr] = (struct io){ .time = e->queue_ns,
				    .offset = e->sector * 512,
				    .len = e->bytes,
				    .dev = dev,
				    .write = e->op == BBS_OP_WRITE,
				    .order = l->nr };
	l->nr++;
	return 0;
}

static int iolog_collect(struct iolog *l, struct bbs_tf_reader *rd, bool all)
{
	struct bbs_tf_event ev;
	int err;

	while (bbs_tfr_next(rd, &ev) == 1) {
		if (ev.type != EV_BIO)
			continue;
		if ((!all && ev.bio.kind != KIND_DATA) || !ev.bio.bytes) {
			l->skipped++;
			continue;
		}
		err = iolog_add(l, rd, &ev.bio);
		if (err) {
			bbs_err("cannot export: %s", strerror(-err));
			return err;
		}
	}
	qsort(l->io, l->nr, sizeof(*l->io), io_cmp);
	return 0;
}

/* The iolog into f: devices added and opened, every I/O, devices closed. */
static void iolog_write(struct iolog *l, FILE *f)
{
	uint64_t t0 = l->nr ? l->io[0].time : 0, t_end = 0;
	struct bbs_export_dev *devs = l->b.devs;

	fprintf(f, "fio version 3 iolog\n");
	for (uint32_t d = 0; d < l->b.nr_devs; d++)
		fprintf(f, "0 /dev/%s add\n0 /dev/%s open\n", devs[d].name, devs[d].name);
	for (size_t i = 0; i < l->nr; i++) {
		const struct io *io = &l->io[i];

		t_end = (io->time - t0) / 1000;
		fprintf(f, "%llu /dev/%s %s %llu %u\n", (unsigned long long)t_end,
			devs[io->dev].name, io->write ? "write" : "read",
			(unsigned long long)io->offset, io->len);
		devs[io->dev].bios++;
	}
	for (uint32_t d = 0; d < l->b.nr_devs; d++)
		fprintf(f, "%llu /dev/%s close\n", (unsigned long long)t_end, devs[d].name);
}

int bbs_export_iolog(struct bbs_tf_reader *rd, const char *out, bool all, bool force,
		     struct bbs_export_result *res)
{
	struct iolog l = { 0 };
	struct bbs_out o;
	FILE *f;
	int err;

	memset(res, 0, sizeof(*res));
	err = iolog_collect(&l, rd, all);
	if (err)
		goto out;
	/* Written beside and renamed into place: never a half iolog under its name. */
	err = bbs_out_open(&o, out, force ? BBS_OUT_FORCE : 0);
	if (err) {
		bbs_err("%s: %s", out, o.why);
		goto out;
	}
	f = bbs_out_stream(&o);
	if (!f) {
		bbs_out_abort(&o);
		err = -ENOMEM;
		bbs_err("cannot write %s: %s", out, strerror(ENOMEM));
		goto out;
	}
	iolog_write(&l, f);
	err = bbs_out_commit(&o);
	if (err) {
		bbs_err("cannot write %s: %s", out, o.why);
		goto out;
	}
	res->ios = l.nr;
	res->skipped = l.skipped;
	res->devs = l.b.devs;
	res->nr_devs = l.b.nr_devs;
	l.b.devs = NULL;
out:
	free(l.io);
	free(l.b.devs);
	return err;
}

void bbs_export_free(struct bbs_export_result *res)
{
	free(res->devs);
	res->devs = NULL;
}
