/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ISA-L's AVX-512 crc32 returns with the upper vector state dirty, and the
 * legacy-SSE code that runs next on the thread (OpenSSL's SHA-NI sha256)
 * then runs about a quarter slower.  Every caller of ISA-L crc32 clears it
 * afterwards: csum.c after its crc32c, tracefile/wire.h after chunk CRCs,
 * bench before timing.  vzeroupper is an AVX instruction: a no-op without
 * AVX.  Inline: one instruction after every CRC, nothing to link.
 */
#ifndef BBS_SIMD_H
#define BBS_SIMD_H

static inline void bbs_avx_upper_clear(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vzeroupper"
				 :
				 :
				 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
				   "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
				   "xmm15");
#endif
}

#endif
