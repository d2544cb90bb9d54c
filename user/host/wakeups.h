/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This process's threads' wake-ups, timed by the kernel (bpf/wakeups.bpf.c):
 * per thread, how many, their waits from woken to running, and how much of
 * those waits passed with a CPU idle.  For the bench's replays, which
 * cannot tell those apart from schedstat's sums.
 */
#ifndef BBS_HOST_WAKEUPS_H
#define BBS_HOST_WAKEUPS_H

#include <linux/types.h>

#include "bbscope_wakeups.h"

struct bbs_wakeups;

/*
 * Start timing; NULL where this process may not load BPF or the kernel
 * refuses the programs (the caller does without: no error is printed).
 */
struct bbs_wakeups *bbs_wakeups_start(void);
/* Thread tid's wake-ups since the start into *st (zeroes when none). */
void bbs_wakeups_read(const struct bbs_wakeups *w, int tid, struct bbs_wake_stat *st);
void bbs_wakeups_stop(struct bbs_wakeups *w);

#endif
