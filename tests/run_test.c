// SPDX-License-Identifier: GPL-2.0
/*
 * bbs_run: a child that fills its stderr pipe before it writes its stdout
 * does not deadlock; output is captured NUL-terminated and truncated to the
 * buffers while the rest is drained; the exit status (or 128 + the signal)
 * comes back; and no fd is left open, also when a pipe cannot be made.
 * Each case runs under alarm(): a deadlock fails the test, it does not hang.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "host/util.h"

#include "check.h"

#define TIMEOUT 20 /* seconds per case */
#define BIG (200 << 10) /* 200 KiB: over three pipe buffers */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool all_chars(const char *s, char c, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] != c)
			return false;
	return true;
}

/* 200 KiB of 'e' on stderr first, then one line on stdout, exit 3. */
static void test_stderr_first(void)
{
	static char out[256], err[1024];
	char *argv[] = { "sh", "-c",
			 "head -c 204800 /dev/zero | tr '\\0' e >&2; echo stdout-line; exit 3",
			 NULL };
	int rc;

	alarm(TIMEOUT);
	rc = bbs_run(argv, out, sizeof(out), err, sizeof(err));
	alarm(0);
	CHECK(rc == 3, "big stderr first: exit %d, not 3", rc);
	CHECK(!strcmp(out, "stdout-line\n"), "big stderr first: stdout '%s'", out);
	CHECK(all_chars(err, 'e', sizeof(err) - 1), "big stderr first: stderr is %zu bytes",
	      strlen(err));
	printf("ok 200 KiB on stderr before stdout\n");
}

/* Both streams big and interleaved, and big buffers: everything captured. */
static void test_both_big(void)
{
	static char out[BIG + 1], err[BIG + 1];
	char *argv[] = { "sh", "-c",
			 "for i in 1 2 3 4; do head -c 51200 /dev/zero | tr '\\0' e >&2; "
			 "head -c 51200 /dev/zero | tr '\\0' o; done",
			 NULL };
	int rc;

	alarm(TIMEOUT);
	rc = bbs_run(argv, out, sizeof(out), err, sizeof(err));
	alarm(0);
	CHECK(rc == 0, "both big: exit %d", rc);
	CHECK(all_chars(out, 'o', BIG), "both big: stdout is %zu bytes", strlen(out));
	CHECK(all_chars(err, 'e', BIG), "both big: stderr is %zu bytes", strlen(err));
	printf("ok 200 KiB on each, interleaved, all captured\n");
}

/* Tiny buffers: truncated, the rest drained, the child finishes. */
static void test_truncate(void)
{
	char out[8], err[1], none[4] = "xyz";
	char *argv[] = { "sh", "-c",
			 "head -c 204800 /dev/zero | tr '\\0' o; "
			 "head -c 204800 /dev/zero | tr '\\0' e >&2; kill -TERM $$",
			 NULL };
	int rc;

	alarm(TIMEOUT);
	rc = bbs_run(argv, out, sizeof(out), err, sizeof(err));
	alarm(0);
	CHECK(rc == 128 + 15, "truncate: exit %d, not 143 (SIGTERM)", rc);
	CHECK(!strcmp(out, "ooooooo"), "truncate: stdout '%s'", out);
	CHECK(err[0] == 0, "truncate: a 1-byte stderr buffer holds '%s'", err);

	/* A zero-length buffer is drained but not written to. */
	alarm(TIMEOUT);
	rc = bbs_run(argv, none, 0, none + 1, 0);
	alarm(0);
	CHECK(rc == 128 + 15, "zero-length buffers: exit %d", rc);
	CHECK(!strcmp(none, "xyz"), "zero-length buffers written to: '%s'", none);
	printf("ok output beyond the buffers is dropped, the child still finishes\n");
}

/* Only stderr captured (mkfs's case in reverse), and a command that is not there. */
static void test_one_pipe(void)
{
	char err[256], out[256];
	char *argv[] = { "sh", "-c", "echo to-err >&2; exit 1", NULL };
	char *missing[] = { "bbscope-no-such-command", NULL };
	int rc;

	alarm(TIMEOUT);
	rc = bbs_run(argv, NULL, 0, err, sizeof(err));
	alarm(0);
	CHECK(rc == 1 && !strcmp(err, "to-err\n"), "stderr only: exit %d, '%s'", rc, err);

	alarm(TIMEOUT);
	rc = bbs_run(missing, out, sizeof(out), err, sizeof(err));
	alarm(0);
	CHECK(rc == 127, "missing command: exit %d, not 127", rc);
	CHECK(strstr(err, "cannot run bbscope-no-such-command") != NULL,
	      "missing command: stderr '%s'", err);
	CHECK(out[0] == 0, "missing command: stdout '%s'", out);
	printf("ok one pipe; a missing command exits 127\n");
}

/* Many runs, every way of calling it: the number of open fds does not change. */
static void test_no_fd_leak(void)
{
	char out[64], err[64];
	/* Only what is captured is written: the rest would go to our own stdout and stderr. */
	char *argv[] = { "sh", "-c", "echo o; echo e >&2", NULL };
	char *to_out[] = { "sh", "-c", "echo o", NULL };
	char *to_err[] = { "sh", "-c", "echo e >&2", NULL };
	char *quiet[] = { "true", NULL };
	int before = count_fds(), after, rc;

	alarm(TIMEOUT * 3);
	for (int i = 0; i < 150; i++) {
		bbs_run(argv, out, sizeof(out), err, sizeof(err));
		bbs_run(to_out, out, sizeof(out), NULL, 0);
		bbs_run(to_err, NULL, 0, err, sizeof(err));
		bbs_run(quiet, NULL, 0, NULL, 0);
	}
	alarm(0);
	after = count_fds();
	CHECK(before > 0 && after == before, "fds open: %d before 600 runs, %d after", before,
	      after);

	/* Room for the stdout pipe, not the stderr one: the first must be closed again. */
	{
		struct rlimit old, lim;
		int fd = dup(0), saved;

		if (fd < 0 || getrlimit(RLIMIT_NOFILE, &old)) {
			CHECK(0, "cannot set up the EMFILE case: %s", strerror(errno));
			return;
		}
		close(fd); /* fd is now the lowest free one */
		lim = old;
		lim.rlim_cur = fd + 2;
		before = count_fds();
		CHECK(!setrlimit(RLIMIT_NOFILE, &lim), "setrlimit: %s", strerror(errno));
		errno = 0;
		rc = bbs_run(argv, out, sizeof(out), err, sizeof(err));
		saved = errno;
		setrlimit(RLIMIT_NOFILE, &old);
		after = count_fds();
		CHECK(rc == -1 && saved == EMFILE, "no fd for the stderr pipe: rc %d, %s", rc,
		      strerror(saved));
		CHECK(after == before, "no fd for the stderr pipe: %d fds before, %d after", before,
		      after);
	}
	printf("ok no fd left open (%d before and after)\n", after);
}

int main(void)
{
	test_stderr_first();
	test_both_big();
	test_truncate();
	test_one_pipe();
	test_no_fd_leak();
	printf("%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
