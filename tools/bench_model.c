// SPDX-License-Identifier: GPL-2.0
/*
 * bench_model: the async_csum series' model of btrfs's data write path
 * (user/bench/model.h, the one copy of its formula) for given bandwidths,
 * so that scripts (tools/bench_replay.sh) predict as `bbscope bench` does.
 *
 *   bench_model M C D
 *   bench_model --pipe SHAPE QD WORKERS BYTES SUBMIT CSUM DEVICE HANDOFF WAKE [WORKER [ISSUE]]
 *
 * M, C, D: memory, checksum and device bandwidth in bytes a second; M may
 * be "inf" to leave memory out.  Prints one JSON object: the inputs, and
 * serial_bps, async_bps, async_speedup and formula.  Exit 0, or 2 on bad
 * input.  --pipe: the pipeline model (bbs_pipe_predict()) for shape none,
 * serial, async or offload, times in ns a bio; prints {bps, latency_ns}.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "bench/model.h"

static int number(const char *s, double *v)
{
	char *end;

	*v = strtod(s, &end);
	return *s && !*end && *v > 0 ? 0 : -1;
}

static int pipe_main(int argc, char **argv)
{
	static const char *const shapes[] = { "none", "serial", "async", "offload" };
	struct bbs_pipe p = { .shape = 4 };
	double v[8];

	for (int i = 0; i < 4 && argc >= 11; i++)
		if (!strcmp(argv[2], shapes[i]))
			p.shape = i;
	for (int i = 0; i < 8 && argc >= 11; i++)
		if (number(argv[3 + i], &v[i]) && !(i >= 3 && !strcmp(argv[3 + i], "0")))
			p.shape = 4;
	if (argc < 11 || argc > 13 || p.shape == 4) {
		fprintf(stderr, "usage: bench_model --pipe none|serial|async|offload QD WORKERS "
				"BYTES SUBMIT CSUM DEVICE HANDOFF WAKE\n");
		return 2;
	}
	p.qd = (unsigned int)v[0];
	p.workers = (unsigned int)v[1];
	p.bio_bytes = v[2];
	p.submit_ns = strtod(argv[6], NULL);
	p.csum_ns = strtod(argv[7], NULL);
	p.device_ns = strtod(argv[8], NULL);
	p.handoff_ns = strtod(argv[9], NULL);
	p.wake_ns = strtod(argv[10], NULL);
	p.worker_ns = argc > 11 ? strtod(argv[11], NULL) : 0;
	p.issue_ns = argc > 12 ? strtod(argv[12], NULL) : 0;
	if (bbs_pipe_predict(&p)) {
		fprintf(stderr, "bench_model: bad pipeline input\n");
		return 2;
	}
	printf("{\"bps\":%.6g,\"latency_ns\":%.6g}\n", p.bps, p.latency_ns);
	return 0;
}

int main(int argc, char **argv)
{
	struct bbs_model m;
	json_t *o;
	int ret;

	if (argc > 1 && !strcmp(argv[1], "--pipe"))
		return pipe_main(argc, argv);
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
