// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "render/print.h"
#include "host/util.h"

int bbs_json_print(const json_t *o, size_t flags)
{
	if (!o) {
		/* Never a silent nothing: an object that could not be built is an error. */
		bbs_err("cannot encode the JSON output: %s", strerror(ENOMEM));
		return -1;
	}
	if (json_dumpf(o, stdout, flags | JSON_COMPACT) || fputc('\n', stdout) == EOF)
		return -1;
	return 0;
}

bool bbs_stdout_ok(void)
{
	return !fflush(stdout) && !ferror(stdout);
}

size_t bbs_csum_line(char *buf, uint64_t offset, const uint8_t *csum, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = snprintf(buf, 24, "%llu ", (unsigned long long)offset);

	for (size_t i = 0; i < size && i < BBS_CSUM_MAX; i++) {
		buf[n++] = hex[csum[i] >> 4];
		buf[n++] = hex[csum[i] & 15];
	}
	buf[n++] = '\n';
	return n;
}

void bbs_human_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}
