/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btrfs data and metadata checksums, bit-identical to what btrfs stores.
 * One interface over four libraries with different calling conventions.
 *
 *   crc32c    ISA-L crc32_iscsi; stored as le32(~crc32c(~0, block))   4 bytes
 *   xxhash    libxxhash XXH64, seed 0, stored little endian            8 bytes
 *   sha256    OpenSSL libcrypto (SHA-NI where the CPU has it)         32 bytes
 *   blake2    libsodium crypto_generichash, unkeyed BLAKE2b-256       32 bytes
 *
 * Stored checksums are always BBS_CSUM_MAX bytes in btrfs items' slots of
 * csum_size; only the first bbs_csum_size() bytes are meaningful.
 */
#ifndef BBS_CSUM_H
#define BBS_CSUM_H

#include <stddef.h>
#include <stdint.h>

enum bbs_csum_type {
	BBS_CSUM_CRC32C, /* btrfs csum_type 0 */
	BBS_CSUM_XXHASH, /* 1 */
	BBS_CSUM_SHA256, /* 2 */
	BBS_CSUM_BLAKE2, /* 3 */
	BBS_NR_CSUMS,
};

#define BBS_CSUM_MAX 32

/* "crc32c", "xxhash" (also "xxhash64"), "sha256", "blake2" (also "blake2b"). -1 if unknown. */
int bbs_csum_parse(const char *name);
/* The name mkfs.btrfs --csum takes; "unknown" for a type out of range. */
const char *bbs_csum_name(enum bbs_csum_type type);
/* Bytes of the stored checksum: 4, 8, 32, 32; 0 for a type out of range. */
size_t bbs_csum_size(enum bbs_csum_type type);

/*
 * Checksum one block as btrfs stores it.  out receives bbs_csum_size() bytes.
 * Any len; btrfs uses the sector size (4096 on x86) for data.
 *
 * Preconditions: type < BBS_NR_CSUMS (otherwise out is left untouched); data
 * readable for len bytes, any alignment; out holds bbs_csum_size(type) bytes,
 * any alignment.  Thread-safe; the first sha256 or blake2 call of the process
 * initialises libcrypto and libsodium, the first sha256 call of each thread
 * allocates that thread's digest context (freed at thread exit).
 */
void bbs_csum_block(enum bbs_csum_type type, const void *data, size_t len, uint8_t *out);

/*
 * Checksum len / block consecutive blocks (len a multiple of block), one
 * stored checksum after another in out (bbs_csum_size() bytes each): the
 * batched form the kernel's per-bio loop corresponds to.
 *
 * Preconditions: as bbs_csum_block(), with out holding
 * (len / block) * bbs_csum_size(type) bytes.  block may be any size; a
 * trailing len % block bytes are not checksummed, and block == 0 does nothing.
 * Results equal bbs_csum_block() on each block.
 */
void bbs_csum_blocks(enum bbs_csum_type type, const void *data, size_t len, size_t block,
		     uint8_t *out);

#endif
