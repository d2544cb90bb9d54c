// SPDX-License-Identifier: GPL-2.0
/*
 * bench's pipeline model (user/bench/model.c) against values computed by
 * hand: the seed's formula as its special case (qd 1, free hand-offs), the
 * bottleneck law at depth (throughput 1 / the largest demand of a single
 * server), hand-offs as pure delays at qd 1, a worker's wake-up paid only
 * when it was idle, a write issued inline as the submitter's time, and bad
 * input refused.
 */
#include <math.h>

#include "bench/model.h"

#include "check.h"

#define NEAR(a, b, rel) (fabs((a) - (b)) <= (rel)*fabs(b))

/* bios a second of p, as the model predicts it */
static double rate(struct bbs_pipe *p)
{
	CHECK(!bbs_pipe_predict(p), "predict");
	return p->bps / p->bio_bytes;
}

static struct bbs_pipe pipe_of(enum bbs_model_shape shape, unsigned int qd, double sub, double c,
			       double d)
{
	return (struct bbs_pipe){ .shape = shape,
				  .qd = qd,
				  .workers = 1,
				  .bio_bytes = 1e6,
				  .submit_ns = sub,
				  .csum_ns = c,
				  .device_ns = d };
}

static void test_seed(void)
{
	/* m 4 GB/s, c 2 GB/s, d 1 GB/s: 1 MB costs 250 + 500 + 1000 us */
	struct bbs_model m = { .mem_bps = 4e9, .csum_bps = 2e9, .dev_bps = 1e9 };
	struct bbs_pipe p;

	bbs_model_predict(&m);
	CHECK(NEAR(m.serial_bps, 1e6 / 1750e-6, 1e-9), "seed serial %g", m.serial_bps);
	CHECK(NEAR(m.async_bps, 1e6 / 1250e-6, 1e-9), "seed async %g", m.async_bps);
	bbs_pipe_seed(&p, &m, BBS_SHAPE_SERIAL, 1e6);
	CHECK(NEAR(rate(&p), 1 / 1750e-6, 1e-6), "pipe serial at qd 1: %g", p.bps);
	CHECK(NEAR(p.bps, m.serial_bps, 1e-6), "= the seed's serial");
	CHECK(NEAR(p.latency_ns, 1750e3, 1e-6), "latency = the sum: %g", p.latency_ns);
	bbs_pipe_seed(&p, &m, BBS_SHAPE_ASYNC, 1e6);
	CHECK(!bbs_pipe_predict(&p), "predict");
	CHECK(NEAR(p.bps, m.async_bps, 1e-6), "pipe async = seed async: %g %g", p.bps, m.async_bps);
	/* c above d: async bound by the checksum */
	m.csum_bps = 0.5e9;
	bbs_model_predict(&m);
	bbs_pipe_seed(&p, &m, BBS_SHAPE_ASYNC, 1e6);
	bbs_pipe_predict(&p);
	CHECK(NEAR(p.bps, m.async_bps, 1e-6), "pipe async = seed async, c bound: %g %g", p.bps,
	      m.async_bps);
	printf("ok the seed's model is the pipeline at qd 1 with free hand-offs\n");
}

static void test_depth(void)
{
	struct bbs_pipe p;

	/* none: S 10 us, D 40 us; qd 1: 50 us a bio; qd 4: D bound, 40 us a bio */
	p = pipe_of(BBS_SHAPE_NONE, 1, 10e3, 0, 40e3);
	CHECK(NEAR(rate(&p), 1 / 50e-6, 1e-6), "none qd 1: %g", p.bps);
	p = pipe_of(BBS_SHAPE_NONE, 4, 10e3, 0, 40e3);
	CHECK(NEAR(rate(&p), 1 / 40e-6, 1e-3), "none qd 4: %g", p.bps);
	/* Little's law: 4 in flight at 40 us a bio: 160 us each */
	CHECK(NEAR(p.latency_ns, 160e3, 1e-2), "none qd 4 latency %g", p.latency_ns);
	/* serial: S 10 + c 30, D 40: qd 1 80 us; qd 16 D bound 40 us (S's 40 equals it) */
	p = pipe_of(BBS_SHAPE_SERIAL, 1, 10e3, 30e3, 40e3);
	CHECK(NEAR(rate(&p), 1 / 80e-6, 1e-6), "serial qd 1: %g", p.bps);
	p = pipe_of(BBS_SHAPE_SERIAL, 16, 10e3, 60e3, 40e3);
	CHECK(NEAR(rate(&p), 1 / 70e-6, 1e-3), "serial qd 16, S bound (70 us): %g", p.bps);
	/* async, one worker, c 60 > d 40: qd 16 bound by the worker */
	p = pipe_of(BBS_SHAPE_ASYNC, 16, 10e3, 60e3, 40e3);
	CHECK(NEAR(rate(&p), 1 / 60e-6, 1e-3), "async qd 16, W bound: %g", p.bps);
	/* two workers: 30 us a bio of W; D bound at 40 */
	p.workers = 2;
	CHECK(NEAR(rate(&p), 1 / 40e-6, 1e-3), "async qd 16, 2 workers, D bound: %g", p.bps);
	/* offload qd 1: everything in series, 10 + 60 + 40 */
	p = pipe_of(BBS_SHAPE_OFFLOAD, 1, 10e3, 60e3, 40e3);
	CHECK(NEAR(rate(&p), 1 / 110e-6, 1e-6), "offload qd 1: %g", p.bps);
	printf("ok queue depth: series at qd 1, the bottleneck at depth, Little's law\n");
}

static void test_handoffs(void)
{
	struct bbs_pipe p;

	/* async qd 1: S 5, then max(D 40, handoff 20 + c 10 + wake 15 = 45) = 50 us */
	p = pipe_of(BBS_SHAPE_ASYNC, 1, 5e3, 10e3, 40e3);
	p.handoff_ns = 20e3;
	p.wake_ns = 15e3;
	CHECK(NEAR(rate(&p), 1 / 50e-6, 1e-6), "async qd 1 with hand-offs: %g", p.bps);
	/* offload qd 1: 5 + 20 + 10 + 15 + 40 = 90 us */
	p.shape = BBS_SHAPE_OFFLOAD;
	CHECK(NEAR(rate(&p), 1 / 90e-6, 1e-6), "offload qd 1 with hand-offs: %g", p.bps);
	/*
	 * async qd 16, c 60 > d 40, handoff 100: the worker is never idle at
	 * depth, so no wake-up is paid and it stays the bottleneck at 60 us
	 */
	p = pipe_of(BBS_SHAPE_ASYNC, 16, 5e3, 60e3, 40e3);
	p.handoff_ns = 100e3;
	CHECK(NEAR(rate(&p), 1 / 60e-6, 2e-2), "busy worker, no wake-up: %g", p.bps);
	/*
	 * a write run inline while issuing (tmpfs): S carries it, depth cannot
	 * overlap it with S's own time: none qd 8, S 1 + issue 20, D 20 - 20
	 */
	p = pipe_of(BBS_SHAPE_NONE, 8, 1e3, 0, 20e3);
	p.issue_ns = 20e3;
	CHECK(NEAR(rate(&p), 1 / 21e-6, 1e-3), "inline issue is S's: %g", p.bps);
	/* serial: S 1 + c 30 + issue 5, D 40 - 5 = 35: S bound at 36 us */
	p = pipe_of(BBS_SHAPE_SERIAL, 8, 1e3, 30e3, 40e3);
	p.issue_ns = 5e3;
	CHECK(NEAR(rate(&p), 1 / 36e-6, 1e-3), "serial with issue: %g", p.bps);
	printf("ok hand-offs: delays at qd 1, hidden behind a busy worker at depth\n");
}

/* The same pipeline with its times as CPU work on cores shared by its stations. */
static struct bbs_pipe as_cpu(struct bbs_pipe p, double cores)
{
	p.cores = cores;
	p.submit_cpu_ns = p.submit_ns + p.issue_ns + (p.shape == BBS_SHAPE_SERIAL ? p.csum_ns : 0);
	p.device_cpu_ns = p.device_ns - p.issue_ns;
	p.worker_cpu_ns = p.csum_ns;
	p.submit_ns = p.issue_ns = p.device_ns = p.csum_ns = 0;
	return p;
}

static void test_sharing(void)
{
	struct bbs_pipe p, q;

	/* none qd 4, S 10 us, D 40 us of CPU: ample cores, D bound at 40 us */
	p = as_cpu(pipe_of(BBS_SHAPE_NONE, 4, 10e3, 0, 40e3), 8);
	CHECK(NEAR(rate(&p), 1 / 40e-6, 1e-3), "ample cores: the bottleneck: %g", p.bps);
	/* one core, two stations: the sum of their demands, 50 us, at any depth */
	p.cores = 1;
	CHECK(NEAR(rate(&p), 1 / 50e-6, 1e-3), "1 core: the sum of demands: %g", p.bps);
	p.qd = 1;
	CHECK(NEAR(rate(&p), 1 / 50e-6, 1e-6), "1 core, qd 1: %g", p.bps);
	/* half a core (other load took the rest): twice the sum */
	p.cores = 0.5;
	CHECK(NEAR(rate(&p), 1 / 100e-6, 1e-6), "half a core: %g", p.bps);
	/* async qd 16, S 10, W 60, D 40 of CPU: 1 core 110 us; 2 cores: W bound at 60 */
	p = as_cpu(pipe_of(BBS_SHAPE_ASYNC, 16, 10e3, 60e3, 40e3), 1);
	CHECK(NEAR(rate(&p), 1 / 110e-6, 2e-2), "async, 1 core: %g", p.bps);
	p.cores = 2;
	CHECK(NEAR(rate(&p), 1 / 60e-6, 2e-2), "async, 2 cores: W bound: %g", p.bps);
	/* 1.5 cores: no faster than the CPU bound, 110 / 1.5 = 73.3 us a bio; above 1 core */
	p.cores = 1.5;
	CHECK(rate(&p) <= 1.5 / 110e-6 * 1.001 && p.bps / p.bio_bytes > 1 / 100e-6,
	      "async, 1.5 cores: %g", p.bps);
	/* serial qd 16, S 10 + c 30, D 40 on 2 cores: each its own, D and S both 40 */
	p = as_cpu(pipe_of(BBS_SHAPE_SERIAL, 16, 10e3, 0, 40e3), 2);
	p.submit_cpu_ns = 40e3;
	CHECK(NEAR(rate(&p), 1 / 40e-6, 2e-2), "serial, 2 cores: %g", p.bps);
	/*
	 * ample cores: every shape and depth, with hand-offs, as the model
	 * without sharing from the same times
	 */
	for (int k = BBS_SHAPE_NONE; k <= BBS_SHAPE_OFFLOAD; k++)
		for (unsigned int qd = 1; qd <= 16; qd *= 4) {
			p = pipe_of((enum bbs_model_shape)k, qd, 7e3, 33e3, 41e3);
			p.handoff_ns = 12e3;
			p.wake_ns = 5e3;
			p.issue_ns = 3e3;
			q = as_cpu(p, 64);
			/* the hand-offs stay delays: no CPU */
			CHECK(!bbs_pipe_predict(&p) && !bbs_pipe_predict(&q), "predict");
			CHECK(NEAR(q.bps, p.bps, 1e-6) && NEAR(q.latency_ns, p.latency_ns, 1e-6),
			      "shape %d qd %u: ample cores %g = without sharing %g", k, qd, q.bps,
			      p.bps);
		}
	/* a delay before the CPU work holds the station: D 30 delay + 10 cpu, 1 core */
	p = pipe_of(BBS_SHAPE_NONE, 8, 0, 0, 30e3);
	p.cores = 1;
	p.device_cpu_ns = 10e3;
	p.submit_cpu_ns = 5e3;
	CHECK(NEAR(rate(&p), 1 / 40e-6, 1e-3), "device delay + cpu, S hidden: %g", p.bps);
	printf("ok sharing: 1 core the sum of demands, ample cores the model without sharing\n");
}

static void test_bad(void)
{
	struct bbs_pipe p = pipe_of(BBS_SHAPE_NONE, 0, 1, 1, 1);

	CHECK(bbs_pipe_predict(&p) == -1 && isnan(p.bps), "qd 0 refused");
	p = pipe_of(BBS_SHAPE_NONE, 1, -1, 1, 1);
	CHECK(bbs_pipe_predict(&p) == -1, "negative time refused");
	p = pipe_of(BBS_SHAPE_NONE, 1, NAN, 1, 1);
	CHECK(bbs_pipe_predict(&p) == -1, "NaN refused");
	p = pipe_of(BBS_SHAPE_NONE, 1, 1, 1, 1);
	p.cores = -1;
	CHECK(bbs_pipe_predict(&p) == -1, "negative cores refused");
	printf("ok bad input refused\n");
}

int main(void)
{
	test_seed();
	test_depth();
	test_handoffs();
	test_sharing();
	test_bad();
	return failures ? 1 : 0;
}
