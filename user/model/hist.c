// SPDX-License-Identifier: GPL-2.0
/* The latency histogram (model/hist.h): log2 slots, as the BPF side fills them. */
#include "model/hist.h"

uint32_t bbs_hist_slot(uint64_t v)
{
	uint32_t msb, slot;

	if (v < HIST_SUB)
		return v;
	msb = 63 - __builtin_clzll(v);
	slot = (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       ((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return slot < HIST_SLOTS ? slot : HIST_SLOTS - 1;
}

uint64_t bbs_hist_slot_lo(uint32_t slot)
{
	uint32_t msb;

	if (slot < 2 * HIST_SUB)
		return slot;
	msb = slot / HIST_SUB + HIST_SUB_BITS - 1;
	return (1ULL << msb) + (uint64_t)(slot % HIST_SUB) * (1ULL << (msb - HIST_SUB_BITS));
}

uint64_t bbs_hist_slot_hi(uint32_t slot)
{
	uint32_t msb;

	if (slot < 2 * HIST_SUB)
		return slot + 1;
	msb = slot / HIST_SUB + HIST_SUB_BITS - 1;
	return bbs_hist_slot_lo(slot) + (1ULL << (msb - HIST_SUB_BITS));
}

void bbs_hist_add(struct bbs_hist *h, uint64_t v)
{
	h->count++;
	h->sum_ns += v;
	if (v > h->max_ns)
		h->max_ns = v;
	h->slots[bbs_hist_slot(v)]++;
}

void bbs_hist_merge(struct bbs_hist *dst, const struct bbs_hist *src)
{
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	for (int i = 0; i < HIST_SLOTS; i++)
		dst->slots[i] += src->slots[i];
}

uint64_t bbs_hist_percentile(const struct bbs_hist *h, double p)
{
	uint64_t total = 0, seen = 0, lo, hi, v;
	double rank;

	for (int i = 0; i < HIST_SLOTS; i++)
		total += h->slots[i];
	if (!total)
		return 0;
	rank = p * total;
	for (int i = 0; i < HIST_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		if (seen + h->slots[i] >= rank) {
			lo = bbs_hist_slot_lo(i);
			hi = bbs_hist_slot_hi(i);
			/* Spread the bucket's samples evenly over its width. */
			v = lo + (uint64_t)((hi - lo) * ((rank - seen) / h->slots[i]));
			if (v >= hi)
				v = hi - 1;
			return v > h->max_ns ? h->max_ns : v;
		}
		seen += h->slots[i];
	}
	return h->max_ns;
}
