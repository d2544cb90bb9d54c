// SPDX-License-Identifier: GPL-2.0
/*
 * The packaged binary is linked against Debian 11's glibc 2.31
 * (tools/deb/build.sh), so that one .deb runs on Debian 11, 12 and 13.
 * What bbscope calls from a newer glibc is defined here: the linker then
 * binds to this copy and asks no newer symbol version of libc.so.6.
 */
#include <signal.h>
#include <stddef.h>

const char *sigabbrev_np(int sig);

/* glibc 2.32: the signal's name without "SIG", NULL if it has none. */
const char *sigabbrev_np(int sig)
{
	static const char *const names[] = {
		[SIGHUP] = "HUP",	[SIGINT] = "INT",   [SIGQUIT] = "QUIT",
		[SIGILL] = "ILL",	[SIGTRAP] = "TRAP", [SIGABRT] = "ABRT",
		[SIGBUS] = "BUS",	[SIGFPE] = "FPE",   [SIGKILL] = "KILL",
		[SIGUSR1] = "USR1",	[SIGSEGV] = "SEGV", [SIGUSR2] = "USR2",
		[SIGPIPE] = "PIPE",	[SIGALRM] = "ALRM", [SIGTERM] = "TERM",
		[SIGCHLD] = "CHLD",	[SIGCONT] = "CONT", [SIGSTOP] = "STOP",
		[SIGTSTP] = "TSTP",	[SIGTTIN] = "TTIN", [SIGTTOU] = "TTOU",
		[SIGURG] = "URG",	[SIGXCPU] = "XCPU", [SIGXFSZ] = "XFSZ",
		[SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF", [SIGWINCH] = "WINCH",
		[SIGIO] = "IO",		[SIGPWR] = "PWR",   [SIGSYS] = "SYS",
	};

	if (sig <= 0 || (size_t)sig >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[sig];
}
