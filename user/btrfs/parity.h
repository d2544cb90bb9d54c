/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btrfs RAID5/6 parity in userspace, bit-identical to what the kernel writes.
 *
 * A full stripe is nr_data data strips followed by the parity strips, in
 * btrfs's stripe index order (struct btrfs_raid_bio: data, then P, then Q):
 *
 *   strips[0 .. nr_data-1]   data, D_0 first
 *   strips[nr_data]          P = D_0 ^ D_1 ^ ... ^ D_{n-1}
 *   strips[nr_data + 1]      Q = g^0 D_0 ^ g^1 D_1 ^ ... ^ g^{n-1} D_{n-1}   (raid6 only)
 *
 * Q lives in the field of Linux lib/raid6: GF(2^8) modulo x^8+x^4+x^3+x^2+1
 * (0x11d), generator g = {02}.  ISA-L's pq_gen and its erasure code tables
 * use the same field, so its output is the kernel's byte for byte.
 *
 * Fast path: ISA-L xor_gen / pq_gen on strips whose addresses are multiples
 * of BBS_PARITY_ALIGN, for the largest multiple of BBS_PARITY_LEN_MULT bytes
 * of the length.  What btrfs allows but ISA-L refuses takes another path
 * with the same bytes: one data strip is a copy (ISA-L wants two sources at
 * least); a length tail and unaligned strips go through portable 16-byte
 * vector code, 3-7x slower in cache.  Recovery uses ISA-L ec_encode_data,
 * which takes any alignment and length.
 *
 * Strips must not overlap each other.  Lengths and steps are in bytes, any value
 * (btrfs uses the 64 KiB BTRFS_STRIPE_LEN and the 4 KiB sector size).
 * All functions are thread safe: they keep no state.
 */
#ifndef BBS_PARITY_H
#define BBS_PARITY_H

#include <stddef.h>
#include <stdint.h>

/* The value is the number of parity strips: P, or P and Q. */
enum bbs_raid {
	BBS_RAID5 = 1,
	BBS_RAID6 = 2,
};

/*
 * At most 254 data strips, as Linux lib/raid6 (256 disks): the Q
 * coefficients g^0 .. g^253 must stay distinct for two-data recovery.
 */
#define BBS_PARITY_MAX_DATA 254
#define BBS_PARITY_MAX_STRIPS (BBS_PARITY_MAX_DATA + 2)

/*
 * Strip addresses that are multiples of BBS_PARITY_ALIGN take the ISA-L
 * path.  raid.h asks for 32; its AVX-512 kernels want 64 when ISA-L is built
 * with non-temporal loads, so 64 is safe for every build.  Page-aligned
 * buffers (what btrfs's sector pages are) always qualify.
 */
#define BBS_PARITY_ALIGN 64
/* ISA-L handles len & ~(BBS_PARITY_LEN_MULT - 1); the tail is portable code. */
#define BBS_PARITY_LEN_MULT 64

/* Stripe index of P and Q, for bbs_parity_recover()'s failed[]. */
#define BBS_PARITY_P(nr_data) (nr_data)
#define BBS_PARITY_Q(nr_data) ((nr_data) + 1)

/* Parity strips of a profile: 1 for BBS_RAID5, 2 for BBS_RAID6. */
static inline unsigned int bbs_parity_nr(enum bbs_raid raid)
{
	return raid;
}

/*
 * Generate P (raid5) or P and Q (raid6) of one full stripe.
 *
 * Reads strips[0 .. nr_data-1], writes strips[nr_data] (and
 * strips[nr_data + 1] for raid6), len bytes each, step bytes per ISA-L call:
 *
 *   step = 4096 (the sector size) is the kernel's shape, btrfs raid56.c
 *     generate_pq_vertical(): for each vertical sector, gather the pointer
 *     of every strip at that sector and run gen_syndrome()/xor on it.
 *   step = 0 (or >= len) is the batched shape: the whole strip in one call.
 *
 * Both shapes give the same bytes; only the call overhead differs.  A step
 * that does not divide len leaves a shorter last step.
 *
 * Preconditions:
 *   raid is BBS_RAID5 or BBS_RAID6;
 *   1 <= nr_data <= BBS_PARITY_MAX_DATA (one data strip: P = D_0, and for
 *     raid6 Q = D_0 as well, as the kernel computes it);
 *   strips holds nr_data + bbs_parity_nr(raid) pointers to len bytes each;
 *   alignment and len: any (see BBS_PARITY_ALIGN, BBS_PARITY_LEN_MULT for
 *     what runs fast); for speed step should be a multiple of
 *     BBS_PARITY_LEN_MULT, as 4096 is.
 *
 * Returns 0, or -EINVAL if a precondition on raid or nr_data is not met.
 */
int bbs_parity_gen(enum bbs_raid raid, unsigned int nr_data, void *const *strips, size_t len,
		   size_t step);

/*
 * Rebuild the failed strips of one full stripe in place from the others.
 *
 * failed lists nr_failed distinct stripe indexes, in any order: 0 ..
 * nr_data-1 for data, BBS_PARITY_P(nr_data), BBS_PARITY_Q(nr_data).  On
 * return the buffers strips[failed[i]] hold the rebuilt contents; the other
 * strips are only read.  What the profile tolerates, and how it is rebuilt:
 *
 *   raid5  one data strip    xor of the other data and P
 *          P                 xor of the data
 *   raid6  one data strip    from P, as raid5
 *          P, or Q           regenerated from the data
 *          data + P          data from Q (and the other data), then P
 *          data + Q          data from P, then Q
 *          P + Q             both regenerated
 *          two data strips   solved in GF(2^8) from P and Q in one pass
 *
 * The surviving strips must be consistent (the parity of the data); if they
 * are not, the rebuilt strips are as wrong as the kernel's would be.
 *
 * Preconditions:
 *   raid, nr_data and strips as for bbs_parity_gen();
 *   nr_failed <= bbs_parity_nr(raid), failed[] distinct and in range
 *     (nr_failed = 0 does nothing);
 *   alignment and len: any.
 *
 * Returns 0, or -EINVAL if a precondition is not met (nothing is written).
 */
int bbs_parity_recover(enum bbs_raid raid, unsigned int nr_data, void *const *strips, size_t len,
		       const unsigned int *failed, unsigned int nr_failed);

/*
 * Check one full stripe that lost strips with the redundancy left over.
 *
 * Rebuilds the failed strips in place, as bbs_parity_recover() does, then
 * generates the parity of the completed data into parity[] (P, and Q for
 * raid6: bbs_parity_nr(raid) buffers of len bytes, distinct from strips)
 * and compares it with every parity strip that did not fail, step bytes at
 * a time: bad[i] gets bit 0 when P differs in [i * step, (i + 1) * step),
 * bit 1 when Q does, 0 when they agree (ceil(len / step) entries; step 0
 * means len, one entry).
 *
 * Only a parity strip the rebuild did not use is a witness: a data strip
 * rebuilt from P makes P agree by construction.  So fewer strips may fail
 * than there are parity strips:
 *
 *   no failure         P (and Q) of the data, as a plain check;
 *   raid6, data strip  rebuilt from P and the other data, Q checks it;
 *   raid6, P (or Q)    regenerated from the data, Q (or P) checks the data.
 *
 * With as many failures as parity strips (raid5 with one, raid6 with two)
 * any rebuild agrees with what is left: there is nothing to check with.
 *
 * Preconditions: as for bbs_parity_recover(); bad holds ceil(len / step)
 * bytes.  Returns how many steps disagree, -ENODATA when nr_failed equals
 * bbs_parity_nr(raid) (nothing is written), -EINVAL when a precondition is
 * not met (nothing is written).
 */
int bbs_parity_check_degraded(enum bbs_raid raid, unsigned int nr_data, void *const *strips,
			      size_t len, const unsigned int *failed, unsigned int nr_failed,
			      void *const *parity, size_t step, uint8_t *bad);

#endif
