// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "host/machine.h"
#include "host/sys.h"

void bbs_cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256];

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon++;
		while (isspace((unsigned char)*colon))
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* The highest-level data or unified cache of cpu0: "32768K" -> bytes. 0 if unknown. */
size_t bbs_llc_size(unsigned int *level)
{
	size_t best = 0;

	*level = 0;
	for (int i = 0; i < 16; i++) {
		char path[128], buf[64], *end;
		unsigned long lvl, size;

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
		if (bbs_sys_read(path, buf, sizeof(buf)))
			break;
		if (!strcmp(buf, "Instruction"))
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
		if (bbs_sys_read(path, buf, sizeof(buf)))
			continue;
		lvl = strtoul(buf, NULL, 10);
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
		if (bbs_sys_read(path, buf, sizeof(buf)))
			continue;
		size = strtoul(buf, &end, 10);
		if (*end == 'K')
			size <<= 10;
		else if (*end == 'M')
			size <<= 20;
		else if (*end == 'G')
			size <<= 30;
		if (lvl > *level || (lvl == *level && size > best)) {
			*level = (unsigned int)lvl;
			best = size;
		}
	}
	return best;
}

uint64_t bbs_mem_available(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb << 10;
}

int bbs_sched_read(int tid, struct bbs_sched *s)
{
	char path[64];
	unsigned long long run, wait, slices;
	FILE *f;
	int ok;

	if (tid)
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
	else
		snprintf(path, sizeof(path), "/proc/thread-self/schedstat");
	f = fopen(path, "re");
	if (!f)
		return -1;
	ok = fscanf(f, "%llu %llu %llu", &run, &wait, &slices) == 3;
	fclose(f);
	if (!ok)
		return -1;
	*s = (struct bbs_sched){ run, wait, slices };
	return 0;
}

unsigned int bbs_cpus_allowed(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? (unsigned int)n : 1;
}

uint64_t bbs_machine_idle_ns(void)
{
	FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[5] = { 0 };
	long hz = sysconf(_SC_CLK_TCK);
	int n;

	if (!f)
		return 0;
	/* cpu  user nice system idle iowait: idle and iowait, from the kernel's idle time */
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]);
	fclose(f);
	if (n < 5 || hz <= 0)
		return 0;
	return (uint64_t)(v[3] + v[4]) * (1000000000ULL / (unsigned long)hz);
}

json_t *bbs_machine_json(void)
{
	unsigned int level;
	struct utsname u;
	char cpu[256];
	size_t llc;

	bbs_cpu_model(cpu, sizeof(cpu));
	llc = bbs_llc_size(&level);
	uname(&u);
	return json_pack("{s:s,s:i,s:I,s:i,s:s}", "cpu", cpu, "cores",
			 (int)sysconf(_SC_NPROCESSORS_ONLN), "llc_bytes", (json_int_t)llc,
			 "llc_level", (int)level, "kernel", u.release);
}
