/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The trace file's encoding, shared by its writer (tracefile/write.c) and
 * reader (tracefile/read.c): little-endian fields, the chunk CRC, record
 * flags and lengths, and the ranges both check.  docs/format.md is the
 * specification; a change here is a change to both halves, and to it.
 */
#ifndef BBS_TRACEFILE_WIRE_H
#define BBS_TRACEFILE_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <isa-l/crc.h>

#include "btrfs/simd.h"
#include "tracefile/tracefile.h"

#define ABSENT32 0xffffffffU
#define ABSENT64 0xffffffffffffffffULL
#define REC_F_USEC 0x40 /* TF_REC_BIO flags: deltas are in microseconds */
#define REC_F_KERNEL 0x3f /* BIO_F_* bits the compact record can hold */
#define LOST_HDR_LEN 24
#define TRAILER_HDR_LEN 56
#define NAME_ENT_LEN 10

/* ---- little-endian fields ---- */

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static inline void put48(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put16(p + 4, v >> 32);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static inline uint16_t get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static inline uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static inline uint64_t get48(const uint8_t *p)
{
	return get32(p) | (uint64_t)get16(p + 4) << 32;
}

static inline uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Standard CRC32C (Castagnoli) of the chunk header's first 12 bytes and the payload. */
static inline uint32_t chunk_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	/* crc32_iscsi only reads its buffer; it just lacks the const. */
	uint32_t crc = crc32_iscsi((unsigned char *)hdr, 12, ~0U);

	if (len)
		crc = crc32_iscsi((unsigned char *)payload, (int)len, crc);
	bbs_avx_upper_clear();
	return ~crc;
}

/* The ranges every consumer indexes arrays with; writer and reader agree on them. */
static inline bool bio_valid(const struct bbs_event_bio *e)
{
	return e->op < BBS_NR_OPS && e->kind < NR_KINDS && e->complete_ctx < NR_CTX &&
	       e->endio_ctx < NR_CTX;
}

static inline bool span_phase_valid(uint8_t phase)
{
	return phase == PHASE_CSUM || phase == PHASE_ORDERED || phase == PHASE_RMW ||
	       phase == PHASE_RECOVER;
}

static inline bool span_valid(const struct bbs_event_span *e)
{
	return span_phase_valid(e->phase) && e->kind < NR_KINDS && e->ctx < NR_CTX;
}

#endif
