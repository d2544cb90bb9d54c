// SPDX-License-Identifier: GPL-2.0
/*
 * user/btrfs/csum.c against published test vectors and against independent
 * implementations: a bitwise CRC-32C, the XXH64 specification and RFC 7693's
 * BLAKE2b written out below, and libsodium's SHA-256 for OpenSSL's.  Every
 * expected value here was also checked with Python's hashlib (sha256,
 * blake2b(digest_size=32)) or the references below when it was written.
 *
 * One line per check ("ok: ..." or "FAIL: ..."); exit 0 pass, 1 fail.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <isa-l/crc.h>
#include <sodium.h>

#include "btrfs/csum.h"

static int failures;

static void __attribute__((format(printf, 2, 3))) check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		failures++;
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = rng() >> 56;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = v;
}

/* ---- references ---------------------------------------------------------- */

/* CRC-32C (Castagnoli), reflected polynomial 0x82f63b78, one bit at a time. */
static uint32_t ref_crc32c(const uint8_t *p, size_t n)
{
	uint32_t crc = ~0U;

	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & -(crc & 1));
	}
	return ~crc;
}

/* XXH64 as the xxHash specification (doc/xxhash_spec.md) describes it. */
#define XP1 0x9e3779b185ebca87ULL
#define XP2 0xc2b2ae3d27d4eb4fULL
#define XP3 0x165667b19e3779f9ULL
#define XP4 0x85ebca77c2b2ae63ULL
#define XP5 0x27d4eb2f165667c5ULL

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t xxh_round(uint64_t acc, uint64_t in)
{
	return rotl64(acc + in * XP2, 31) * XP1;
}

static uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
	return (acc ^ xxh_round(0, v)) * XP1 + XP4;
}

static uint64_t ref_xxh64(const uint8_t *p, size_t n, uint64_t seed)
{
	const uint8_t *end = p + n;
	uint64_t h;

	if (n >= 32) {
		uint64_t v[4] = { seed + XP1 + XP2, seed + XP2, seed, seed - XP1 };

		for (; end - p >= 32; p += 32)
			for (int i = 0; i < 4; i++)
				v[i] = xxh_round(v[i], get_le64(p + 8 * i));
		h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
		for (int i = 0; i < 4; i++)
			h = xxh_merge(h, v[i]);
	} else {
		h = seed + XP5;
	}
	h += n;
	for (; end - p >= 8; p += 8)
		h = rotl64(h ^ xxh_round(0, get_le64(p)), 27) * XP1 + XP4;
	if (end - p >= 4) {
		h = rotl64(h ^ get_le32(p) * XP1, 23) * XP2 + XP3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl64(h ^ *p * XP5, 11) * XP1;
	h ^= h >> 33;
	h *= XP2;
	h ^= h >> 29;
	h *= XP3;
	return h ^ (h >> 32);
}

/* BLAKE2b, unkeyed, 32-byte digest, as RFC 7693 section 3 and appendix C give it. */
static const uint64_t b2_iv[8] = {
	0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
	0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t b2_sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static void b2_g(uint64_t *v, int a, int b, int c, int d, uint64_t x, uint64_t y)
{
	v[a] = v[a] + v[b] + x;
	v[d] = rotl64(v[d] ^ v[a], 64 - 32);
	v[c] = v[c] + v[d];
	v[b] = rotl64(v[b] ^ v[c], 64 - 24);
	v[a] = v[a] + v[b] + y;
	v[d] = rotl64(v[d] ^ v[a], 64 - 16);
	v[c] = v[c] + v[d];
	v[b] = rotl64(v[b] ^ v[c], 64 - 63);
}

static void b2_compress(uint64_t h[8], const uint8_t block[128], uint64_t t, bool last)
{
	uint64_t v[16], m[16];

	for (int i = 0; i < 8; i++) {
		v[i] = h[i];
		v[i + 8] = b2_iv[i];
	}
	v[12] ^= t; /* messages here are far below 2^64 bytes: the high word stays 0 */
	if (last)
		v[14] = ~v[14];
	for (int i = 0; i < 16; i++)
		m[i] = get_le64(block + 8 * i);
	for (int r = 0; r < 12; r++) {
		const uint8_t *s = b2_sigma[r % 10];

		b2_g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
		b2_g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
		b2_g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
		b2_g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
		b2_g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
		b2_g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
		b2_g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
		b2_g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
	}
	for (int i = 0; i < 8; i++)
		h[i] ^= v[i] ^ v[i + 8];
}

static void ref_blake2b_256(const uint8_t *p, size_t n, uint8_t out[32])
{
	uint64_t h[8], t = 0;
	uint8_t last[128] = { 0 };

	memcpy(h, b2_iv, sizeof(h));
	h[0] ^= 0x01010000ULL ^ 32; /* depth 1, fanout 1, no key, 32-byte digest */
	for (; n > 128; p += 128, n -= 128) {
		t += 128;
		b2_compress(h, p, t, false);
	}
	memcpy(last, p, n);
	b2_compress(h, last, t + n, true);
	for (int i = 0; i < 4; i++)
		put_le(out + 8 * i, h[i], 8);
}

/* The stored bytes each reference gives for one block. */
static void ref_csum(enum bbs_csum_type type, const uint8_t *p, size_t n, uint8_t *out)
{
	switch (type) {
	case BBS_CSUM_CRC32C:
		put_le(out, ref_crc32c(p, n), 4);
		break;
	case BBS_CSUM_XXHASH:
		put_le(out, ref_xxh64(p, n, 0), 8);
		break;
	case BBS_CSUM_SHA256:
		crypto_hash_sha256(out, p, n); /* libsodium's own code, not OpenSSL's */
		break;
	case BBS_CSUM_BLAKE2:
		ref_blake2b_256(p, n, out);
		break;
	default:
		break;
	}
}

/* ---- published vectors ---------------------------------------------------- */

struct vector {
	enum bbs_csum_type type;
	const char *what;
	const void *msg;
	size_t len;
	const char *stored; /* hex, bytes in on-disk order */
};

/* RFC 3720 appendix B.4, and an iSCSI SCSI Read (10) command PDU. */
static uint8_t rfc3720_zeros[32], rfc3720_ones[32], rfc3720_inc[32], rfc3720_dec[32];
static const uint8_t rfc3720_pdu[48] = {
	0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
	0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* xxhsum's sanity buffer: byte i is the top byte of 2654435761^(2^i) mod 2^32. */
static uint8_t xxh_sanity[101];

static const char fips_448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char fips_896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
			       "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
static const char fox[] = "The quick brown fox jumps over the lazy dog";

#define STR(s) s, sizeof(s) - 1

static const struct vector vectors[] = {
	/* CRC-32C check value (Rocksoft model): 0xe3069283, stored little endian. */
	{ BBS_CSUM_CRC32C, "\"123456789\"", STR("123456789"), "839206e3" },
	{ BBS_CSUM_CRC32C, "RFC 3720 32 bytes of zeroes", rfc3720_zeros, 32, "aa36918a" },
	{ BBS_CSUM_CRC32C, "RFC 3720 32 bytes of ones", rfc3720_ones, 32, "43aba862" },
	{ BBS_CSUM_CRC32C, "RFC 3720 32 incrementing bytes", rfc3720_inc, 32, "4e79dd46" },
	{ BBS_CSUM_CRC32C, "RFC 3720 32 decrementing bytes", rfc3720_dec, 32, "5cdb3f11" },
	{ BBS_CSUM_CRC32C, "RFC 3720 SCSI Read (10) PDU", rfc3720_pdu, 48, "563a96d9" },
	/*
	 * xxhsum's sanity check (seed 0): 0xef46db3751d8e999, 0x4fce394cc88952d8,
	 * 0xcffa8db881bc3a3d, 0x0eab543384f878ad; "a" 0xd24ec4f1a98c6e5b, "abc"
	 * 0x44bc2cf5ad770999; stored little endian.
	 */
	{ BBS_CSUM_XXHASH, "empty", "", 0, "99e9d85137db46ef" },
	{ BBS_CSUM_XXHASH, "xxhsum sanity buffer, 1 byte", xxh_sanity, 1, "d85289c84c39ce4f" },
	{ BBS_CSUM_XXHASH, "xxhsum sanity buffer, 14 bytes", xxh_sanity, 14, "3d3abc81b88dfacf" },
	{ BBS_CSUM_XXHASH, "xxhsum sanity buffer, 101 bytes", xxh_sanity, 101, "ad78f8843354ab0e" },
	{ BBS_CSUM_XXHASH, "\"a\"", STR("a"), "5b6e8ca9f1c44ed2" },
	{ BBS_CSUM_XXHASH, "\"abc\"", STR("abc"), "990977adf52cbc44" },
	/* FIPS 180-2 appendix B and the NIST examples. */
	{ BBS_CSUM_SHA256, "empty", "", 0,
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ BBS_CSUM_SHA256, "\"abc\"", STR("abc"),
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ BBS_CSUM_SHA256, "FIPS 180 448-bit message", STR(fips_448),
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ BBS_CSUM_SHA256, "FIPS 180 896-bit message", STR(fips_896),
	  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	/* BLAKE2b with a 32-byte digest (not a truncated BLAKE2b-512). */
	{ BBS_CSUM_BLAKE2, "empty", "", 0,
	  "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8" },
	{ BBS_CSUM_BLAKE2, "\"abc\"", STR("abc"),
	  "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319" },
	{ BBS_CSUM_BLAKE2, "\"The quick brown fox ...\"", STR(fox),
	  "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9" },
};

static void init_vectors(void)
{
	uint32_t gen = 2654435761U;

	for (int i = 0; i < 32; i++) {
		rfc3720_ones[i] = 0xff;
		rfc3720_inc[i] = i;
		rfc3720_dec[i] = 31 - i;
	}
	for (size_t i = 0; i < sizeof(xxh_sanity); i++) {
		xxh_sanity[i] = gen >> 24;
		gen *= gen;
	}
}

static void test_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		size_t size = bbs_csum_size(v->type);
		uint8_t got[BBS_CSUM_MAX], ref[BBS_CSUM_MAX];
		char hex[2 * BBS_CSUM_MAX + 1], rhex[2 * BBS_CSUM_MAX + 1];

		bbs_csum_block(v->type, v->msg, v->len, got);
		to_hex(got, size, hex);
		check(!strcmp(hex, v->stored), "%s %s: %s (want %s)", bbs_csum_name(v->type),
		      v->what, hex, v->stored);
		/* The references must agree with the published value too. */
		ref_csum(v->type, v->msg, v->len, ref);
		to_hex(ref, size, rhex);
		check(!strcmp(rhex, v->stored), "%s %s: reference gives %s", bbs_csum_name(v->type),
		      v->what, rhex);
	}
}

/* SHA-256 of a million 'a' (FIPS 180-2 B.3): a long input through one call. */
static void test_million_a(void)
{
	static const char want[] =
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	char *m = malloc(1000000);
	uint8_t got[32];
	char hex[65];

	if (!m) {
		check(false, "sha256 million 'a': out of memory");
		return;
	}
	memset(m, 'a', 1000000);
	bbs_csum_block(BBS_CSUM_SHA256, m, 1000000, got);
	to_hex(got, 32, hex);
	check(!strcmp(hex, want), "sha256 FIPS 180 one million 'a': %s", hex);
	free(m);
}

/*
 * What crc32_iscsi computes: the bare reflected register update, no inversion
 * in or out, so btrfs's value is ~crc32_iscsi(p, n, ~0), and it chains.
 */
static void test_isal_convention(void)
{
	uint8_t msg[] = "123456789";
	uint32_t whole = crc32_iscsi(msg, 9, ~0U);
	uint32_t chained = crc32_iscsi(msg + 4, 5, crc32_iscsi(msg, 4, ~0U));

	check(whole == 0x1cf96d7c, "isa-l crc32_iscsi(\"123456789\", ~0) = 0x%08x = ~0xe3069283",
	      whole);
	check(crc32_iscsi(msg, 9, 0) == 0x58e3fa20,
	      "isa-l crc32_iscsi(\"123456789\", 0) = 0x%08x: seed 0 is not btrfs's",
	      crc32_iscsi(msg, 9, 0));
	check(chained == whole, "isa-l crc32_iscsi chains through its seed (0x%08x)", chained);
	check(crc32_iscsi(msg, 0, 0x12345678) == 0x12345678,
	      "isa-l crc32_iscsi of nothing returns its seed");
}

static void test_names(void)
{
	static const char *const names[] = { "crc32c", "xxhash", "sha256", "blake2" };
	static const size_t sizes[] = { 4, 8, 32, 32 };
	bool ok = true;

	for (int i = 0; i < BBS_NR_CSUMS; i++)
		ok &= bbs_csum_parse(names[i]) == i && !strcmp(bbs_csum_name(i), names[i]) &&
		      bbs_csum_size(i) == sizes[i];
	check(ok, "names and sizes: crc32c 4, xxhash 8, sha256 32, blake2 32 (btrfs order)");
	check(bbs_csum_parse("xxhash64") == BBS_CSUM_XXHASH &&
		      bbs_csum_parse("blake2b") == BBS_CSUM_BLAKE2,
	      "aliases xxhash64 and blake2b");
	check(bbs_csum_parse("crc32") < 0 && bbs_csum_parse("") < 0 && bbs_csum_parse(NULL) < 0 &&
		      bbs_csum_parse("SHA256") < 0,
	      "unknown names give -1");
	check(bbs_csum_size(BBS_NR_CSUMS) == 0 && !strcmp(bbs_csum_name(BBS_NR_CSUMS), "unknown"),
	      "out-of-range type: size 0, name \"unknown\"");
}

/*
 * Odd lengths at odd addresses, checksums written to odd addresses: every
 * power of two to 64 KiB, one less and one more, and two lengths of no shape.
 */
static void test_lengths(uint8_t *buf)
{
	static const size_t shifts[] = { 0, 1, 3, 7, 13, 63 };
	size_t lens[3 * 17 + 2], nr_lens = 0;

	for (size_t pow = 1; pow <= 65536; pow <<= 1) {
		lens[nr_lens++] = pow - 1;
		lens[nr_lens++] = pow;
		lens[nr_lens++] = pow + 1;
	}
	lens[nr_lens++] = 1000;
	lens[nr_lens++] = 12345;

	for (int t = 0; t < BBS_NR_CSUMS; t++) {
		size_t size = bbs_csum_size(t), bad = 0, checks = 0;
		uint8_t got[BBS_CSUM_MAX + 8], ref[BBS_CSUM_MAX];
		char first[160] = "";

		for (size_t l = 0; l < nr_lens; l++) {
			for (size_t s = 0; s < sizeof(shifts) / sizeof(shifts[0]); s++) {
				const uint8_t *p = buf + shifts[s];
				uint8_t *out = got + 1 + s % 7;

				memset(got, 0xa5, sizeof(got));
				bbs_csum_block(t, p, lens[l], out);
				ref_csum(t, p, lens[l], ref);
				checks++;
				/* Exactly size bytes written: the byte after is untouched. */
				if (!memcmp(out, ref, size) && out[size] == 0xa5 && out[-1] == 0xa5)
					continue;
				if (!bad++)
					snprintf(first, sizeof(first),
						 " (first: length %zu at +%zu)", lens[l],
						 shifts[s]);
			}
		}
		check(!bad, "%s equals the reference at %zu lengths and alignments, %zu wrong%s",
		      bbs_csum_name(t), checks, bad, first);
	}
}

/* The batched loop is the per-block function, block after block. */
static void test_blocks(uint8_t *buf, size_t buflen)
{
	static const size_t blocks[] = { 512, 1000, 4096, 65536 };
	uint8_t *batch = malloc(buflen / 512 * BBS_CSUM_MAX + 64);
	uint8_t one[BBS_CSUM_MAX];

	if (!batch) {
		check(false, "bbs_csum_blocks: out of memory");
		return;
	}
	for (int t = 0; t < BBS_NR_CSUMS; t++) {
		size_t size = bbs_csum_size(t), bad = 0;

		for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
			for (size_t shift = 0; shift < 6; shift += 5) {
				size_t block = blocks[b];
				/* A partial block at the end, which must be left alone. */
				size_t len = buflen - 65536 - shift;
				size_t n = len / block;
				const uint8_t *p = buf + shift;

				memset(batch, 0xa5, n * size + 64);
				bbs_csum_blocks(t, p, len, block, batch + shift);
				for (size_t i = 0; i < n; i++) {
					bbs_csum_block(t, p + i * block, block, one);
					bad += !!memcmp(one, batch + shift + i * size, size);
				}
				bad += batch[shift + n * size] != 0xa5;
			}
		}
		memset(batch, 0xa5, 64);
		bbs_csum_blocks(t, buf, 4096, 0, batch);
		bbs_csum_blocks(t, buf, 4095, 4096, batch);
		bad += batch[0] != 0xa5;
		check(!bad,
		      "%s bbs_csum_blocks equals bbs_csum_block per block "
		      "(blocks 512/1000/4096/64K, unaligned, tail and block 0 untouched)",
		      bbs_csum_name(t));
	}
	free(batch);
}

/*
 * crc32_iscsi takes an int length: a buffer over 1 GiB goes through in
 * steps.  Zero pages from an anonymous mapping cost no memory; the expected
 * value chains crc32_iscsi over different, uneven pieces.
 */
static void test_crc32c_huge(void)
{
	size_t len = (1UL << 30) + 3 * 4096 + 5, piece[] = { 123456789, 600000001 };
	uint8_t *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint32_t crc = ~0U;
	uint8_t got[4];
	size_t off = 0;

	if (p == MAP_FAILED) {
		check(false, "crc32c over 1 GiB: cannot map %zu bytes", len);
		return;
	}
	for (int i = 0; i < 2; i++) {
		crc = crc32_iscsi(p + off, piece[i], crc);
		off += piece[i];
	}
	crc = ~crc32_iscsi(p + off, len - off, crc);
	bbs_csum_block(BBS_CSUM_CRC32C, p, len, got);
	check(get_le32(got) == crc, "crc32c of %zu bytes (over crc32_iscsi's int): 0x%08x", len,
	      get_le32(got));
	munmap(p, len);
}

/* sha256 keeps a context per thread; blake2 and sha256 initialise once. */
struct thread_arg {
	const uint8_t *buf;
	const uint8_t *want; /* 2 x 32 bytes: sha256 then blake2 of the first 4096 */
	int bad;
};

static void *thread_fn(void *p)
{
	struct thread_arg *a = p;
	uint8_t got[32];

	for (int i = 0; i < 2000; i++) {
		bbs_csum_block(BBS_CSUM_SHA256, a->buf, 4096, got);
		a->bad += !!memcmp(got, a->want, 32);
		bbs_csum_block(BBS_CSUM_BLAKE2, a->buf, 4096, got);
		a->bad += !!memcmp(got, a->want + 32, 32);
	}
	return NULL;
}

static void test_threads(const uint8_t *buf)
{
	uint8_t want[64];
	struct thread_arg args[4];
	pthread_t tids[4];
	int bad = 0, started = 0;

	ref_csum(BBS_CSUM_SHA256, buf, 4096, want);
	ref_csum(BBS_CSUM_BLAKE2, buf, 4096, want + 32);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ buf, want, 0 };
		if (!pthread_create(&tids[i], NULL, thread_fn, &args[i]))
			started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(tids[i], NULL);
		bad += args[i].bad;
	}
	check(started == 4 && !bad, "sha256 and blake2 from %d threads at once: %d wrong", started,
	      bad);
}

int main(void)
{
	size_t buflen = 256 * 1024 + 128;
	uint8_t *buf = malloc(buflen);

	if (!buf || sodium_init() < 0) {
		printf("FAIL: setup (out of memory or libsodium unusable)\n");
		return 1;
	}
	fill_random(buf, buflen);
	init_vectors();

	test_names();
	test_isal_convention();
	test_vectors();
	test_million_a();
	test_lengths(buf);
	test_blocks(buf, buflen);
	test_crc32c_huge();
	test_threads(buf);

	free(buf);
	printf("%s: %d check(s) failed\n", failures ? "FAIL" : "ok", failures);
	return failures ? 1 : 0;
}
