// SPDX-License-Identifier: GPL-2.0
/* Which of the capabilities tracing needs this process has (host/caps.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "host/caps.h"

uint64_t bbs_caps_effective(void)
{
	unsigned long long eff = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff;
}

const char *bbs_cap_name(int cap)
{
	switch (cap) {
	case BBS_CAP_SYS_ADMIN:
		return "CAP_SYS_ADMIN";
	case BBS_CAP_SYS_RESOURCE:
		return "CAP_SYS_RESOURCE";
	case BBS_CAP_SYSLOG:
		return "CAP_SYSLOG";
	case BBS_CAP_PERFMON:
		return "CAP_PERFMON";
	case BBS_CAP_BPF:
		return "CAP_BPF";
	}
	return NULL;
}

static int read_int(const char *path, int dflt)
{
	FILE *f = fopen(path, "r");
	int v = dflt;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = dflt;
		fclose(f);
	}
	return v;
}

/* Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK (memcg accounting came in 5.11). */
static bool memlock_charged(void)
{
	struct utsname u;
	int maj = 0, min = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &maj, &min) != 2)
		return false;
	return maj < 5 || (maj == 5 && min < 11);
}

static void add(char *buf, size_t len, int cap)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s%s", n ? ", " : "", bbs_cap_name(cap));
}

bool bbs_caps_for_tracing(char *buf, size_t len)
{
	uint64_t eff = bbs_caps_effective();
	bool admin = eff & (1ULL << BBS_CAP_SYS_ADMIN);
	struct rlimit rl;

	buf[0] = 0;
	/* CAP_SYS_ADMIN stands for both (kernels before 5.8 have neither). */
	if (!admin && !(eff & (1ULL << BBS_CAP_BPF)))
		add(buf, len, BBS_CAP_BPF);
	if (!admin && !(eff & (1ULL << BBS_CAP_PERFMON)))
		add(buf, len, BBS_CAP_PERFMON);
	/*
	 * btrfs as a module with BTF (6.1 and later): libbpf finds its types by
	 * listing the kernel's BTF objects (BPF_BTF_GET_NEXT_ID), which the
	 * kernel allows only with CAP_SYS_ADMIN (found on Debian's 6.1 and 6.12).
	 */
	if (!admin && !access("/sys/kernel/btf/btrfs", F_OK))
		add(buf, len, BBS_CAP_SYS_ADMIN);
	/*
	 * kallsyms_show_value(): kptr_restrict 0 shows addresses to perf users
	 * (perf_event_paranoid <= 1), 1 to CAP_SYSLOG, 2 to nobody.
	 */
	if (!(eff & (1ULL << BBS_CAP_SYSLOG)) &&
	    (read_int("/proc/sys/kernel/kptr_restrict", 1) != 0 ||
	     read_int("/proc/sys/kernel/perf_event_paranoid", 2) > 1))
		add(buf, len, BBS_CAP_SYSLOG);
	if (memlock_charged() && !(eff & (1ULL << BBS_CAP_SYS_RESOURCE)) &&
	    !getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_max != RLIM_INFINITY)
		add(buf, len, BBS_CAP_SYS_RESOURCE);
	return !buf[0];
}
