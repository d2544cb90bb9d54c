// SPDX-License-Identifier: GPL-2.0
/*
 * btrfs RAID5/6 parity: ISA-L where its preconditions hold, portable code
 * with the same result where they do not.  See parity.h for the layout.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <isa-l/erasure_code.h>
#include <isa-l/raid.h>

#include "btrfs/parity.h"

/* ISA-L takes int lengths; longer strips are done in calls of this size. */
#define MAX_CALL (1U << 30)

/* Portable path: 16 bytes at a time through GCC/clang vector extensions. */
typedef uint8_t v16u8 __attribute__((vector_size(16)));
typedef int8_t v16s8 __attribute__((vector_size(16)));

static inline v16u8 vload(const uint8_t *p)
{
	v16u8 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void vstore(uint8_t *p, v16u8 v)
{
	memcpy(p, &v, sizeof(v));
}

/* Times {02} in GF(2^8)/0x11d: shift left, reduce the bytes whose bit 7 fell out. */
static inline v16u8 vmul2(v16u8 v)
{
	v16u8 reduce = (v16u8)((v16s8)v < 0) & 0x1d;

	return (v + v) ^ reduce;
}

static inline uint8_t mul2(uint8_t b)
{
	return (uint8_t)(b << 1) ^ ((b & 0x80) ? 0x1d : 0);
}

/* dst = src[0] ^ ... ^ src[nsrc-1] over [off, off + n).  Any alignment. */
static void xor_portable(unsigned int nsrc, void *const *src, uint8_t *dst, size_t off, size_t n)
{
	size_t i, end = off + n;
	unsigned int j;

	for (i = off; i + 16 <= end; i += 16) {
		v16u8 x = vload((const uint8_t *)src[0] + i);

		for (j = 1; j < nsrc; j++)
			x ^= vload((const uint8_t *)src[j] + i);
		vstore(dst + i, x);
	}
	for (; i < end; i++) {
		uint8_t x = ((const uint8_t *)src[0])[i];

		for (j = 1; j < nsrc; j++)
			x ^= ((const uint8_t *)src[j])[i];
		dst[i] = x;
	}
}

/*
 * P and Q of s[0 .. nd-1] into s[nd], s[nd + 1] over [off, off + n), by
 * Horner's rule from the last data strip down, as lib/raid6's int.uc does.
 * nd >= 1, any alignment.
 */
static void pq_portable(unsigned int nd, void *const *s, size_t off, size_t n)
{
	uint8_t *p = s[nd], *q = s[nd + 1];
	const uint8_t *d;
	size_t i, end = off + n;
	int j;

	for (i = off; i + 16 <= end; i += 16) {
		v16u8 vp = vload((const uint8_t *)s[nd - 1] + i), vq = vp;

		for (j = (int)nd - 2; j >= 0; j--) {
			v16u8 v = vload((const uint8_t *)s[j] + i);

			vp ^= v;
			vq = vmul2(vq) ^ v;
		}
		vstore(p + i, vp);
		vstore(q + i, vq);
	}
	for (; i < end; i++) {
		uint8_t bp = ((const uint8_t *)s[nd - 1])[i], bq = bp;

		for (j = (int)nd - 2; j >= 0; j--) {
			d = s[j];
			bp ^= d[i];
			bq = mul2(bq) ^ d[i];
		}
		p[i] = bp;
		q[i] = bq;
	}
}

/* Bytes of n that ISA-L may do: all but the tail, if every pointer is aligned. */
static size_t isal_len(void *const *v, unsigned int nr, size_t n)
{
	uintptr_t addr = 0;
	unsigned int i;

	for (i = 0; i < nr; i++)
		addr |= (uintptr_t)v[i];
	if (addr & (BBS_PARITY_ALIGN - 1))
		return 0;
	return n & ~(size_t)(BBS_PARITY_LEN_MULT - 1);
}

/*
 * v[nsrc] = v[0] ^ ... ^ v[nsrc-1], n bytes, n <= MAX_CALL.  ISA-L xor_gen
 * needs two sources at least (vects >= 3) and 32-byte aligned pointers.
 */
static void xor_chunk(unsigned int nsrc, void **v, size_t n)
{
	size_t head;

	if (nsrc == 1) {
		memcpy(v[1], v[0], n);
		return;
	}
	head = isal_len(v, nsrc + 1, n);
	if (head && xor_gen((int)nsrc + 1, (int)head, v))
		head = 0;
	if (head < n)
		xor_portable(nsrc, v, v[nsrc], head, n - head);
}

/*
 * P and Q of v[0 .. nd-1] into v[nd], v[nd + 1], n bytes, n <= MAX_CALL.
 * ISA-L pq_gen needs two sources at least (vects >= 4), a length multiple of
 * 32 and 32-byte aligned pointers.  With one data strip the kernel's
 * gen_syndrome() loop does nothing: P = Q = D_0.
 */
static void pq_chunk(unsigned int nd, void **v, size_t n)
{
	size_t head;

	if (nd == 1) {
		memcpy(v[1], v[0], n);
		memcpy(v[2], v[0], n);
		return;
	}
	head = isal_len(v, nd + 2, n);
	if (head && pq_gen((int)nd + 2, (int)head, v))
		head = 0;
	if (head < n)
		pq_portable(nd, v, head, n - head);
}

static bool valid(enum bbs_raid raid, unsigned int nr_data, void *const *strips)
{
	return (raid == BBS_RAID5 || raid == BBS_RAID6) && nr_data >= 1 &&
	       nr_data <= BBS_PARITY_MAX_DATA && strips;
}

int bbs_parity_gen(enum bbs_raid raid, unsigned int nr_data, void *const *strips, size_t len,
		   size_t step)
{
	unsigned int i, nr = nr_data + bbs_parity_nr(raid);
	void *v[BBS_PARITY_MAX_STRIPS];
	size_t off, n;

	if (!valid(raid, nr_data, strips))
		return -EINVAL;
	if (step == 0 || step > len)
		step = len;
	if (step > MAX_CALL)
		step = MAX_CALL;

	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		/* As generate_pq_vertical(): this step's pointer in every strip. */
		for (i = 0; i < nr; i++)
			v[i] = (uint8_t *)strips[i] + off;
		if (raid == BBS_RAID6)
			pq_chunk(nr_data, v, n);
		else
			xor_chunk(nr_data, v, n);
	}
	return 0;
}

/*
 * Recovery.  s[] are the strips advanced to the current chunk, n <= MAX_CALL
 * bytes; pw[j] = g^j.
 */
struct rebuild {
	unsigned int nd;
	void **s;
	size_t n;
	const uint8_t *pw;
};

/* s[x] = xor of s[0 .. nd] (data and P) except x: a data strip from P, or P. */
static void rebuild_xor(const struct rebuild *r, unsigned int x)
{
	void *v[BBS_PARITY_MAX_STRIPS];
	unsigned int i, k = 0;

	for (i = 0; i <= r->nd; i++)
		if (i != x)
			v[k++] = r->s[i];
	v[k] = r->s[x];
	xor_chunk(k, v, r->n);
}

/*
 * dst[row] = sum over j of coef[row * k + j] * src[j], for rows 1 or 2: one
 * pass of ISA-L ec_encode_data, which takes any alignment and length.
 */
static void rebuild_dot(const struct rebuild *r, unsigned int k, unsigned int rows, uint8_t *coef,
			uint8_t **src, uint8_t **dst)
{
	uint8_t tables[2 * BBS_PARITY_MAX_STRIPS * 32];

	ec_init_tables((int)k, (int)rows, coef, tables);
	ec_encode_data((int)r->n, (int)k, (int)rows, tables, src, dst);
}

/* Q = sum g^j D_j, leaving P alone (pq_gen would write both). */
static void rebuild_q(const struct rebuild *r)
{
	uint8_t coef[BBS_PARITY_MAX_STRIPS], *src[BBS_PARITY_MAX_STRIPS], *dst;
	unsigned int j;

	for (j = 0; j < r->nd; j++) {
		coef[j] = r->pw[j];
		src[j] = r->s[j];
	}
	dst = r->s[r->nd + 1];
	rebuild_dot(r, r->nd, 1, coef, src, &dst);
}

/* D_a from Q: g^a D_a = Q ^ sum_{j != a} g^j D_j, so D_a = g^-a Q ^ sum g^(j-a) D_j. */
static void rebuild_from_q(const struct rebuild *r, unsigned int a)
{
	uint8_t coef[BBS_PARITY_MAX_STRIPS], *src[BBS_PARITY_MAX_STRIPS], *dst;
	uint8_t inv = gf_inv(r->pw[a]);
	unsigned int j, k = 0;

	for (j = 0; j < r->nd; j++) {
		if (j == a)
			continue;
		coef[k] = gf_mul(r->pw[j], inv);
		src[k++] = r->s[j];
	}
	coef[k] = inv;
	src[k++] = r->s[r->nd + 1];
	dst = r->s[a];
	rebuild_dot(r, k, 1, coef, src, &dst);
}

/*
 * Two data strips a != b.  With Pxy = P ^ sum_{j != a,b} D_j = D_a ^ D_b and
 * Qxy = Q ^ sum_{j != a,b} g^j D_j = g^a D_a ^ g^b D_b:
 *
 *   D_a = (g^b Pxy ^ Qxy) / (g^a ^ g^b),   D_b = Pxy ^ D_a
 *
 * Expanded into one coefficient per surviving strip (the other data, P, Q),
 * both rows come out of one ec_encode_data pass.  lib/raid6's
 * raid6_2data_recov() computes the same field values in two passes.
 */
static void rebuild_two_data(const struct rebuild *r, unsigned int a, unsigned int b)
{
	uint8_t coef[2 * BBS_PARITY_MAX_STRIPS], *src[BBS_PARITY_MAX_STRIPS], *dst[2];
	uint8_t inv = gf_inv(r->pw[a] ^ r->pw[b]);
	unsigned int j, k = 0, nsrc = r->nd;

	for (j = 0; j < r->nd; j++) {
		if (j == a || j == b)
			continue;
		coef[k] = gf_mul(r->pw[b] ^ r->pw[j], inv);
		src[k++] = r->s[j];
	}
	coef[k] = gf_mul(r->pw[b], inv); /* P */
	src[k++] = r->s[r->nd];
	coef[k] = inv; /* Q */
	src[k++] = r->s[r->nd + 1];
	/* Row b: the coefficients of Pxy (1 for data and P, 0 for Q) plus row a. */
	for (j = 0; j < nsrc; j++)
		coef[nsrc + j] = coef[j] ^ (j < nsrc - 1 ? 1 : 0);
	dst[0] = r->s[a];
	dst[1] = r->s[b];
	rebuild_dot(r, nsrc, 2, coef, src, dst);
}

/* a < b; b is UINT_MAX for a single failure. */
static void rebuild_chunk(const struct rebuild *r, unsigned int a, unsigned int b)
{
	unsigned int p = r->nd, q = r->nd + 1;

	if (b == UINT_MAX) {
		if (a == q)
			rebuild_q(r);
		else
			rebuild_xor(r, a);
	} else if (a == p) { /* P + Q */
		pq_chunk(r->nd, r->s, r->n);
	} else if (b == q) { /* data + Q */
		rebuild_xor(r, a);
		rebuild_q(r);
	} else if (b == p) { /* data + P */
		rebuild_from_q(r, a);
		rebuild_xor(r, p);
	} else {
		rebuild_two_data(r, a, b);
	}
}

int bbs_parity_recover(enum bbs_raid raid, unsigned int nr_data, void *const *strips, size_t len,
		       const unsigned int *failed, unsigned int nr_failed)
{
	unsigned int i, a, b = UINT_MAX, nr = nr_data + bbs_parity_nr(raid);
	void *v[BBS_PARITY_MAX_STRIPS];
	uint8_t pw[BBS_PARITY_MAX_DATA];
	struct rebuild r = { .nd = nr_data, .s = v, .pw = pw };
	size_t off;

	if (!valid(raid, nr_data, strips) || nr_failed > bbs_parity_nr(raid) ||
	    (nr_failed && !failed))
		return -EINVAL;
	if (nr_failed == 0)
		return 0;
	a = failed[0];
	if (nr_failed == 2) {
		b = failed[1];
		if (a == b)
			return -EINVAL;
		if (a > b) {
			b = a;
			a = failed[1];
		}
	}
	if (a >= nr || (b != UINT_MAX && b >= nr))
		return -EINVAL;

	pw[0] = 1;
	for (i = 1; i < nr_data; i++)
		pw[i] = gf_mul(pw[i - 1], 2);

	for (off = 0; off < len; off += r.n) {
		r.n = len - off < MAX_CALL ? len - off : MAX_CALL;
		for (i = 0; i < nr; i++)
			v[i] = (uint8_t *)strips[i] + off;
		rebuild_chunk(&r, a, b);
	}
	return 0;
}

int bbs_parity_check_degraded(enum bbs_raid raid, unsigned int nr_data, void *const *strips,
			      size_t len, const unsigned int *failed, unsigned int nr_failed,
			      void *const *parity, size_t step, uint8_t *bad)
{
	unsigned int i, k, np = bbs_parity_nr(raid);
	void *v[BBS_PARITY_MAX_STRIPS];
	bool lost[2] = { false, false };
	size_t off, n;
	int ret, nr_bad = 0;

	if (!valid(raid, nr_data, strips) || !parity || !bad)
		return -EINVAL;
	for (k = 0; k < np; k++)
		if (!parity[k])
			return -EINVAL;
	if (nr_failed == np)
		return -ENODATA;
	ret = bbs_parity_recover(raid, nr_data, strips, len, failed, nr_failed);
	if (ret)
		return ret;
	for (i = 0; i < nr_failed; i++)
		if (failed[i] >= nr_data)
			lost[failed[i] - nr_data] = true;
	for (i = 0; i < nr_data; i++)
		v[i] = strips[i];
	for (k = 0; k < np; k++)
		v[nr_data + k] = parity[k];
	bbs_parity_gen(raid, nr_data, v, len, 0);

	if (step == 0 || step > len)
		step = len;
	for (off = 0, i = 0; off < len; off += n, i++) {
		n = len - off < step ? len - off : step;
		bad[i] = 0;
		for (k = 0; k < np; k++)
			if (!lost[k] && memcmp((const uint8_t *)parity[k] + off,
					       (const uint8_t *)strips[nr_data + k] + off, n))
				bad[i] |= 1U << k;
		nr_bad += bad[i] != 0;
	}
	return nr_bad;
}
