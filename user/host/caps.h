/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The capabilities tracing needs, and which of them this process has
 * (its effective set, /proc/self/status): tracing runs without root given
 * CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN covers both), CAP_SYSLOG where
 * kptr_restrict hides /proc/kallsyms addresses, CAP_SYS_ADMIN where btrfs is
 * a module with BTF (libbpf lists BTF objects), and before 5.11 (BPF memory
 * charged to RLIMIT_MEMLOCK) CAP_SYS_RESOURCE unless that limit is
 * already unlimited.
 */
#ifndef BBS_CAPS_H
#define BBS_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bbs_cap {
	BBS_CAP_SYS_ADMIN = 21,
	BBS_CAP_SYS_RESOURCE = 24,
	BBS_CAP_SYSLOG = 34,
	BBS_CAP_PERFMON = 38,
	BBS_CAP_BPF = 39,
};

/* The effective capability set (bit N: capability N); 0 when unreadable. */
uint64_t bbs_caps_effective(void);
/* "CAP_BPF", ...; NULL for one bbscope does not name. */
const char *bbs_cap_name(int cap);
/*
 * What tracing needs that this process lacks, as "CAP_BPF, CAP_PERFMON"
 * into buf ("" when nothing is missing).  Returns true when all is there.
 */
bool bbs_caps_for_tracing(char *buf, size_t len);

#endif
