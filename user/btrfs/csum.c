// SPDX-License-Identifier: GPL-2.0
/*
 * btrfs checksums in userspace, bit-identical to what btrfs stores.
 *
 * crc32c: ISA-L's crc32_iscsi(buf, len, init) is the bare reflected CRC-32C
 * register update: no inversion on the way in or out.  Standard CRC-32C (what
 * the kernel's "crc32c" shash and therefore btrfs compute) is
 * ~crc32_iscsi(buf, len, ~0), which gives 0xe3069283 for "123456789";
 * crc32_iscsi(buf, len, 0) would give 0x58e3fa20.  tests/csum_test.c proves
 * this against the RFC 3720 vectors and a bitwise reference.  The bare form
 * also chains: crc32_iscsi(b, lb, crc32_iscsi(a, la, ~0)) is the register
 * after a||b, which is how lengths beyond crc32_iscsi's int are handled.
 *
 * sha256: OpenSSL 3's SHA256() one-shot fetches the algorithm and allocates
 * a context on every call (about 10% slower on 4 KiB blocks here); a fetched
 * EVP_MD and one EVP_MD_CTX per thread, reinitialised per block, avoid that.
 *
 * blake2: libsodium picks its AVX2 BLAKE2b only after sodium_init(); without
 * it every call runs the reference code.
 *
 * ISA-L's AVX-512 crc32_iscsi_by16_10 (what crc32_iscsi dispatches to on
 * AVX-512 + VPCLMULQDQ machines) returns without vzeroupper, and the ISA-L
 * maintainers leave that to callers (intel/isa-l#24).  Legacy-SSE code run
 * next then pays for the dirty upper register state: OpenSSL's SHA-NI sha256
 * ran at 1.2 instead of 1.6 GB/s after it on Zen 4.  So every crc32c batch
 * ends with one vzeroupper.
 */
#include <pthread.h>
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <xxhash.h>

#include "btrfs/csum.h"
#include "btrfs/simd.h"

static const struct {
	const char *name;
	const char *alias;
	size_t size;
} csums[BBS_NR_CSUMS] = {
	[BBS_CSUM_CRC32C] = { "crc32c", NULL, 4 },
	[BBS_CSUM_XXHASH] = { "xxhash", "xxhash64", 8 },
	[BBS_CSUM_SHA256] = { "sha256", NULL, 32 },
	[BBS_CSUM_BLAKE2] = { "blake2", "blake2b", 32 },
};

int bbs_csum_parse(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < BBS_NR_CSUMS; i++) {
		if (!strcmp(name, csums[i].name) ||
		    (csums[i].alias && !strcmp(name, csums[i].alias)))
			return i;
	}
	return -1;
}

const char *bbs_csum_name(enum bbs_csum_type type)
{
	if ((unsigned int)type >= BBS_NR_CSUMS)
		return "unknown";
	return csums[type].name;
}

size_t bbs_csum_size(enum bbs_csum_type type)
{
	if ((unsigned int)type >= BBS_NR_CSUMS)
		return 0;
	return csums[type].size;
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* One-time library setup shared by every thread. */
static pthread_once_t csum_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static pthread_key_t sha256_key;
static _Thread_local EVP_MD_CTX *sha256_ctx;

static void sha256_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void csum_init_once(void)
{
	/*
	 * < 0 only if libsodium cannot pick its implementations; its reference
	 * code still gives the same bytes, only slower.
	 */
	(void)!sodium_init();
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (sha256_md && pthread_key_create(&sha256_key, sha256_ctx_free)) {
		EVP_MD_free(sha256_md);
		sha256_md = NULL;
	}
}

static inline void csum_init(void)
{
	pthread_once(&csum_once, csum_init_once);
}

/* This thread's reusable context, or NULL (then the one-shot SHA256() is used). */
static EVP_MD_CTX *sha256_thread_ctx(void)
{
	if (sha256_ctx || !sha256_md)
		return sha256_ctx;
	sha256_ctx = EVP_MD_CTX_new();
	if (sha256_ctx && pthread_setspecific(sha256_key, sha256_ctx)) {
		EVP_MD_CTX_free(sha256_ctx);
		sha256_ctx = NULL;
	}
	return sha256_ctx;
}

/* crc32_iscsi takes an int length: longer buffers go through in 1 GiB steps. */
#define CRC32_ISCSI_STEP (1U << 30)

static inline void crc32c_one(const uint8_t *p, size_t len, uint8_t *out)
{
	uint32_t crc = ~0U;

	/* The buffer is only read; crc32_iscsi just lacks the const. */
	while (len > CRC32_ISCSI_STEP) {
		crc = crc32_iscsi((unsigned char *)p, CRC32_ISCSI_STEP, crc);
		p += CRC32_ISCSI_STEP;
		len -= CRC32_ISCSI_STEP;
	}
	crc = crc32_iscsi((unsigned char *)p, (int)len, crc);
	put_le32(out, ~crc);
}

static inline void sha256_one(EVP_MD_CTX *ctx, const uint8_t *p, size_t len, uint8_t *out)
{
	if (ctx && EVP_DigestInit_ex2(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, p, len) &&
	    EVP_DigestFinal_ex(ctx, out, NULL))
		return;
	SHA256(p, len, out);
}

void bbs_csum_block(enum bbs_csum_type type, const void *data, size_t len, uint8_t *out)
{
	switch (type) {
	case BBS_CSUM_CRC32C:
		crc32c_one(data, len, out);
		bbs_avx_upper_clear();
		break;
	case BBS_CSUM_XXHASH:
		put_le64(out, XXH64(data, len, 0));
		break;
	case BBS_CSUM_SHA256:
		csum_init();
		sha256_one(sha256_thread_ctx(), data, len, out);
		break;
	case BBS_CSUM_BLAKE2:
		csum_init();
		crypto_generichash(out, 32, data, len, NULL, 0);
		break;
	default:
		break;
	}
}

/*
 * The per-bio loop: one switch per batch, then a tight loop per algorithm,
 * as btrfs_csum_one_bio() walks a bio's sectors with one shash.
 */
void bbs_csum_blocks(enum bbs_csum_type type, const void *data, size_t len, size_t block,
		     uint8_t *out)
{
	const uint8_t *p = data;
	size_t n = block ? len / block : 0;
	EVP_MD_CTX *ctx;

	switch (type) {
	case BBS_CSUM_CRC32C:
		for (size_t i = 0; i < n; i++, p += block, out += 4)
			crc32c_one(p, block, out);
		bbs_avx_upper_clear();
		break;
	case BBS_CSUM_XXHASH:
		for (size_t i = 0; i < n; i++, p += block, out += 8)
			put_le64(out, XXH64(p, block, 0));
		break;
	case BBS_CSUM_SHA256:
		csum_init();
		ctx = sha256_thread_ctx();
		for (size_t i = 0; i < n; i++, p += block, out += 32)
			sha256_one(ctx, p, block, out);
		break;
	case BBS_CSUM_BLAKE2:
		csum_init();
		for (size_t i = 0; i < n; i++, p += block, out += 32)
			crypto_generichash(out, 32, p, block, NULL, 0);
		break;
	default:
		break;
	}
}
