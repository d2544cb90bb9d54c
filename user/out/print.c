// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include "out/print.h"

int bbs_json_print(const json_t *o, size_t flags)
{
	if (!o || json_dumpf(o, stdout, flags | JSON_COMPACT) || fputc('\n', stdout) == EOF)
		return -1;
	return 0;
}

bool bbs_stdout_ok(void)
{
	return !fflush(stdout) && !ferror(stdout);
}
