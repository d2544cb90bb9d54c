// SPDX-License-Identifier: GPL-2.0
/*
 * bench_model: the async_csum series' model of btrfs's data write path
 * (user/bench/model.h, the one copy of its formula) for given bandwidths,
 * so that scripts (tools/bench_replay.sh) predict as `bbscope bench` does.
 *
 *   bench_model M C D
 *
 * M, C, D: memory, checksum and device bandwidth in bytes a second; M may
 * be "inf" to leave memory out.  Prints one JSON object: the inputs, and
 * serial_bps, async_bps, async_speedup and formula.  Exit 0, or 2 on bad
 * input.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>

#include "bench/model.h"

static int number(const char *s, double *v)
{
	char *end;

	*v = strtod(s, &end);
	return *s && !*end && *v > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct bbs_model m;
	json_t *o;
	int ret;

	if (argc != 4 || number(argv[1], &m.mem_bps) || number(argv[2], &m.csum_bps) ||
	    number(argv[3], &m.dev_bps)) {
		fprintf(stderr, "usage: bench_model M C D (bytes a second, > 0; M may be inf)\n");
		return 2;
	}
	bbs_model_predict(&m);
	o = json_pack("{s:o?,s:f,s:f,s:f,s:f,s:f,s:s}", "mem_bps",
		      isinf(m.mem_bps) ? NULL : json_real(m.mem_bps), "csum_bps", m.csum_bps,
		      "dev_bps", m.dev_bps, "serial_bps", m.serial_bps, "async_bps", m.async_bps,
		      "async_speedup", m.speedup, "formula", bbs_model_formula);
	ret = json_dumpf(o, stdout, JSON_COMPACT) || puts("") == EOF || fflush(stdout) ? 1 : 0;
	json_decref(o);
	return ret;
}
