/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by bpf/wakeups.bpf.c and user/host/wakeups.c: a process's threads'
 * wake-ups, each from being woken (sched_wakeup) to running (sched_switch
 * to it), and how much of that wait fell while a CPU stood idle.
 */
#ifndef BBSCOPE_WAKEUPS_H
#define BBSCOPE_WAKEUPS_H

#define BBS_WAKEUPS_MAX_CPUS 256
#define BBS_WAKEUPS_MAX_THREADS 4096

/* Per thread, summed over its wake-ups. */
struct bbs_wake_stat {
	__u64 wakeups;
	__u64 wait_ns; /* woken -> on a CPU */
	__u64 wait_idle_ns; /* of it, CPU-idle time over the machine, at most the wait */
};

/* Per CPU: written only by that CPU's sched_switch. */
struct bbs_cpu_idle {
	__u64 since; /* ns the CPU went idle, 0 while it runs a task or unknown */
	__u64 total; /* idle ns summed before since */
};

#endif
