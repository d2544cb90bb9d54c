// SPDX-License-Identifier: GPL-2.0
/*
 * The histogram model: slot boundaries tile the number line without gaps,
 * every value lands in the slot whose [lo, hi) holds it, percentiles read
 * back from random samples are within one bucket width of the exact ones,
 * and they are ordered.
 */
#include <stdlib.h>
#include <string.h>

#include "model/report.h"

#include "check.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_slots(void)
{
	for (uint32_t s = 0; s + 1 < HIST_SLOTS; s++) {
		CHECK(bbs_hist_slot_hi(s) == bbs_hist_slot_lo(s + 1),
		      "slot %u: hi %llu != next lo %llu", s,
		      (unsigned long long)bbs_hist_slot_hi(s),
		      (unsigned long long)bbs_hist_slot_lo(s + 1));
		CHECK(bbs_hist_slot(bbs_hist_slot_lo(s)) == s, "lo of slot %u maps back", s);
		CHECK(bbs_hist_slot(bbs_hist_slot_hi(s) - 1) == s, "hi-1 of slot %u maps back", s);
	}
	CHECK(bbs_hist_slot(UINT64_MAX) == HIST_SLOTS - 1, "huge values clamp to the last slot");
	CHECK(bbs_hist_slot(0) == 0, "zero is slot 0");
	/* Sub-bucket width: at most a quarter of the value for HIST_SUB = 4. */
	for (uint32_t s = 2 * HIST_SUB; s < HIST_SLOTS; s++)
		CHECK((bbs_hist_slot_hi(s) - bbs_hist_slot_lo(s)) * HIST_SUB <= bbs_hist_slot_lo(s),
		      "slot %u narrower than lo/%d", s, HIST_SUB);
	printf("ok slots tile [0, 2^%d) and map back\n", HIST_MAX_LOG2);
}

static void test_percentiles(void)
{
	enum { N = 20000 };
	static uint64_t v[N];
	static const double ps[] = { 0.5, 0.9, 0.99 };
	struct bbs_hist h;
	uint64_t prev = 0;

	memset(&h, 0, sizeof(h));
	srand(42);
	for (int i = 0; i < N; i++) {
		/* log-uniform over 1us .. 10ms, like latencies */
		double e = 3 + 4 * (rand() / (double)RAND_MAX);
		v[i] = (uint64_t)__builtin_exp(e * 2.302585093);
		bbs_hist_add(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t exact = v[(size_t)(ps[i] * N) - 1];
		uint64_t got = bbs_hist_percentile(&h, ps[i]);
		uint32_t s = bbs_hist_slot(exact);
		uint64_t width = bbs_hist_slot_hi(s) - bbs_hist_slot_lo(s);

		CHECK(got + width >= exact && got <= exact + width,
		      "p%g: got %llu, exact %llu, bucket width %llu", ps[i] * 100,
		      (unsigned long long)got, (unsigned long long)exact,
		      (unsigned long long)width);
		CHECK(got >= prev, "percentiles ordered");
		prev = got;
	}
	CHECK(bbs_hist_percentile(&h, 1.0) <= h.max_ns, "p100 <= max");
	CHECK(h.max_ns == v[N - 1], "max is exact");
	CHECK(h.count == N, "count");
	printf("ok percentiles within one bucket of exact on %d samples\n", N);
}

static void test_merge_and_groups(void)
{
	struct bbs_hist a = { 0 }, b = { 0 };
	struct bbs_report r;
	struct bbs_group g1 = {
		.fs = 1, .dev = 2, .op = BBS_OP_WRITE, .kind = KIND_DATA, .epoch = 1
	};
	struct bbs_group g2 = g1;

	bbs_hist_add(&a, 100);
	bbs_hist_add(&b, 1000);
	bbs_hist_merge(&a, &b);
	CHECK(a.count == 2 && a.sum_ns == 1100 && a.max_ns == 1000, "merge");

	bbs_report_init(&r);
	g2.epoch = 0; /* epoch does not make another group */
	CHECK(bbs_report_group(&r, &g1) == bbs_report_group(&r, &g2), "same group across epochs");
	g2.kind = KIND_METADATA;
	CHECK(bbs_report_group(&r, &g1) != bbs_report_group(&r, &g2), "kind splits groups");
	CHECK(r.nr_groups == 2, "two groups");
	for (int i = 0; i < 20; i++)
		bbs_group_add_wq(&r.groups[0], i < 10 ? "btrfs-endio" : (i & 1 ? "a" : "b"), 1);
	CHECK(r.groups[0].wqs[0].count == 10, "wq counts");
	bbs_report_free(&r);
	printf("ok merge and grouping\n");
}

int main(void)
{
	test_slots();
	test_percentiles();
	test_merge_and_groups();
	printf("%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
