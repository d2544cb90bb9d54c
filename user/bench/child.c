// SPDX-License-Identifier: GPL-2.0
/*
 * bench's children: this binary (/proc/self/exe) run as a command, its JSON
 * read back (docs/json.md), and fio and mkfs as programs.  The commands are
 * the contract, not re-implemented here; every subcommand bench runs exists
 * because the child is this very binary.  Children run in their own process
 * group, so a Ctrl-C reaches only bench, which passes it on to the running
 * child and then tears down.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/internal.h"
#include "host/util.h"

volatile sig_atomic_t bench_stop_sig;
volatile sig_atomic_t bench_forward_sig = 1;
static volatile sig_atomic_t child_pgrp; /* the running child's process group, 0 none */

static void on_signal(int sig)
{
	bench_stop_sig = sig;
	if (bench_forward_sig && child_pgrp > 0)
		kill(-child_pgrp, sig);
}

void bench_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* ---- children ---- */

/*
 * Run argv in its own process group: this binary when self, else argv[0]
 * from PATH.  stdin is /dev/null, stdout goes to b->out, stderr to b->err
 * (both truncated).  The exit status, or 128 + the signal that killed it.
 */
int bench_child(struct bbs_bench *b, bool self, char **argv)
{
	pid_t pid, parent = getpid();
	int status = 0, fd;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/*
		 * In its own process group it would outlive a SIGKILL of ours and
		 * keep the sandbox busy: SIGTERM it then (our commands clean up on
		 * it), and if we are gone already, do not start.
		 */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(128 + SIGTERM);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		fd = open(b->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 1);
		fd = open(b->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		if (self)
			execv(b->self, argv);
		else
			execvp(argv[0], argv);
		fprintf(stderr, "bbscope: cannot run %s: %s\n", self ? b->self : argv[0],
			strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* as the child does: whichever runs first */
	child_pgrp = pid;
	if (bench_stop_sig && bench_forward_sig)
		kill(-pid, bench_stop_sig);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pgrp = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last non-empty line of what the child wrote on stderr, without "bbscope: ". */
void bench_child_error(struct bbs_bench *b, char *buf, size_t len)
{
	char line[1024];
	FILE *f = fopen(b->err, "r");

	snprintf(buf, len, "no message");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		line[strcspn(line, "\n")] = 0;
		if (!*p)
			continue;
		if (!strncmp(p, "bbscope: ", 9))
			p += 9;
		snprintf(buf, len, "%s", p);
	}
	fclose(f);
}

/*
 * This binary with args (NULL-terminated, without argv[0]) and its JSON
 * output.  NULL after saying why (or quietly, when interrupted).
 */
json_t *bench_child_json(struct bbs_bench *b, const char *what, const char **args)
{
	char *argv[64] = { "bbscope" }, msg[1024];
	json_t *o;
	int n = 1, st;

	for (; args[n - 1] && n < 63; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	st = bench_child(b, true, argv);
	if (bench_stop_sig)
		return NULL;
	o = json_load_file(b->out, 0, NULL);
	if (st == 0 && json_is_object(o) && !json_object_get(o, "error"))
		return o;
	if (st < 0)
		snprintf(msg, sizeof(msg), "cannot fork: %s", strerror(errno));
	else if (json_is_string(json_object_get(o, "error")))
		snprintf(msg, sizeof(msg), "%s", json_string_value(json_object_get(o, "error")));
	else
		bench_child_error(b, msg, sizeof(msg));
	bbs_err("bench: %s failed: %s", what, msg);
	json_decref(o);
	return NULL;
}
