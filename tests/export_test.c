// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of a recording someone else made, without root: a device name
 * from the recording's name table cannot add lines to a fio iolog (fio
 * would open and write the files they name) nor leave the output directory
 * as a blktrace file name.  Each name is written as a device name can be
 * (render/export.c: dev_name_safe), whatever bytes the recording holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "render/export.h"
#include "tracefile/tracefile.h"

#include "check.h"

#define BASE 1000000000000ULL

static const char *evil;

static const char *resolve(enum tf_table t, uint32_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%s", t == TF_DEV ? evil : "/mnt");
	(void)v;
	return buf;
}

/* A finished recording of one 4 KiB data write to a device named `name`. */
static int write_trace(const char *path, const char *name)
{
	struct bbs_tf_header h;
	uint32_t fs = 41, dev = 7 << 20;
	struct bbs_tf_wopts o = {
		.resolve = resolve, .fs = &fs, .nr_fs = 1, .dev = &dev, .nr_dev = 1
	};
	struct bbs_event_bio e;
	struct bbs_tf_writer *w;
	int fd, err;

	evil = name;
	memset(&h, 0, sizeof(h));
	h.mono_ns = BASE;
	h.ncpus = 1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = bbs_tfw_open(&w, fd, &h, &o);
	if (!err) {
		memset(&e, 0, sizeof(e));
		e.type = EV_BIO;
		e.op = BBS_OP_WRITE;
		e.kind = KIND_DATA;
		e.fs = fs;
		e.dev = dev;
		e.bytes = 4096;
		e.queue_ns = BASE + 1000;
		e.issue_ns = BASE + 2000;
		e.complete_ns = BASE + 3000;
		snprintf(e.comm, sizeof(e.comm), "dd");
		err = bbs_tfw_event(w, &e, sizeof(e));
		err = err ?: bbs_tfw_finish(w, BASE + 10000, 0);
		bbs_tfw_free(w);
	}
	close(fd);
	return err;
}

/* Every line of the iolog is one fio knows, naming only /dev/<name>. */
static void check_iolog(const char *path, const char *what)
{
	char line[512], dev[256], act[32];
	unsigned long long t, off;
	unsigned int len;
	FILE *f = fopen(path, "r");
	int n = 0;

	CHECK(f, "%s: iolog written", what);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (n == 1) {
			CHECK(!strcmp(line, "fio version 3 iolog\n"), "%s: header", what);
			continue;
		}
		if (sscanf(line, "%llu /dev/%255s %31s %llu %u", &t, dev, act, &off, &len) == 5)
			CHECK(!strcmp(act, "read") || !strcmp(act, "write"), "%s: line %d: %s",
			      what, n, line);
		else
			CHECK(sscanf(line, "%llu /dev/%255s %31s", &t, dev, act) == 3 &&
				      (!strcmp(act, "add") || !strcmp(act, "open") ||
				       !strcmp(act, "close")),
			      "%s: line %d: %s", what, n, line);
		CHECK(!strchr(dev, '/') && strcmp(dev, "..") && strcmp(dev, "."),
		      "%s: line %d names /dev/%s", what, n, dev);
	}
	fclose(f);
	/* header, add, open, the write, close */
	CHECK(n == 5, "%s: %d lines, want 5", what, n);
}

static void test_name(const char *dir, const char *name, const char *what)
{
	char trace[512], log[512], bt[512], err[256];
	struct bbs_export_result res;
	struct bbs_tf_reader *rd;
	struct stat st;

	snprintf(trace, sizeof(trace), "%s/t.bbt", dir);
	snprintf(log, sizeof(log), "%s/t.iolog", dir);
	snprintf(bt, sizeof(bt), "%s/bt", dir);
	CHECK(!write_trace(trace, name), "%s: recording written", what);
	CHECK(!bbs_tfr_open(&rd, trace, err, sizeof(err)), "%s: recording read: %s", what, err);
	CHECK(!bbs_export_iolog(rd, log, false, true, &res), "%s: iolog exported", what);
	bbs_export_free(&res);
	bbs_tfr_close(rd);
	check_iolog(log, what);

	CHECK(!bbs_tfr_open(&rd, trace, err, sizeof(err)), "%s: recording read", what);
	CHECK(!bbs_export_blktrace(rd, bt, true, &res), "%s: blktrace exported", what);
	for (uint32_t i = 0; i < res.nr_devs; i++) {
		const char *s = res.devs[i].name;

		CHECK(s[0] && s[0] != '.' && !strpbrk(s, "/ \t\n\r"), "%s: blktrace file name '%s'",
		      what, s);
	}
	bbs_export_free(&res);
	bbs_tfr_close(rd);
	/* Nothing outside the output directory. */
	snprintf(log, sizeof(log), "%s/t", dir);
	CHECK(stat(log, &st), "%s: no file t beside the output", what);
}

int main(void)
{
	char dir[] = "/tmp/bbscope-export-test.XXXXXX";
	char cmd[128];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_name(dir, "sda", "a plain name");
	test_name(dir, "x\n0 t open\n0 t write 0 4096\n0 t close", "newlines");
	test_name(dir, "a b\tc\rd", "blanks");
	test_name(dir, "..", "dot-dot");
	test_name(dir, "../t", "a path");
	test_name(dir, "\033]0;x\a\xff", "control and non-ASCII bytes");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		printf("could not remove %s\n", dir);
	if (failures) {
		printf("%d failures\n", failures);
		return 1;
	}
	printf("all passed\n");
	return 0;
}
