// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope verify [--parity | --recover DEVID]: the command line of the
 * verify engines (verify/verify.h), and their results as text or JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "host/jsonstr.h"
#include "host/util.h"
#include "render/print.h"
#include "verify/verify.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope verify [--json] PATH...\n"
		   "       bbscope verify --parity [--json] MOUNTPOINT|DEVICE...\n"
		   "       bbscope verify --recover DEVID [--recover DEVID] [--json] "
		   "MOUNTPOINT|DEVICE...\n"
		   "\n"
		   "Recompute the btrfs checksum of every data block of each regular file\n"
		   "(of every regular file below a directory, not crossing into other\n"
		   "filesystems; a file with several names once) from the bytes on the\n"
		   "member devices, read with O_DIRECT, and compare it with the csum tree.\n"
		   "Every copy of dup, raid1, raid1c3, raid1c4 and raid10 is checked on its\n"
		   "own; a raid5/raid6 block once, in its data strip (its other 'copies' are\n"
		   "rebuilds from parity: --parity and --recover check those).  Needs root.\n"
		   "Read-only, except that each filesystem is synced first (syncfs: a\n"
		   "transaction commit) so that data still in the page cache is on disk with\n"
		   "its checksums; nothing is written that the kernel would not write at its\n"
		   "next commit anyway.\n"
		   "\n"
		   "Not checked, counted in blocks under 'skipped': hole, inline, prealloc,\n"
		   "nodatasum, no_csum, and per copy missing_device and read_error (raid56 is\n"
		   "always 0 now and kept for scripts).  A compressed extent is checked as\n"
		   "stored (compressed); its mismatches give the file offset where the\n"
		   "extent's data starts.\n"
		   "\n"
		   "--parity reads every full stripe of every raid5/raid6 block group from\n"
		   "the members and compares P (and Q) with the parity of the data, in the\n"
		   "columns (same sector of each strip) that hold a referenced extent (extent\n"
		   "tree): btrfs writes parity there and nowhere else.  Full stripes with no\n"
		   "referenced sector are counted as unreferenced, never as mismatches.  A\n"
		   "mismatch names the strip that disagrees: P or Q, or the data strip when\n"
		   "the raid6 syndrome or (raid5) a data checksum points at one.\n"
		   "--recover DEVID rebuilds every strip of that member (two members for\n"
		   "raid6) from the other strips and compares the rebuild with the disk.\n"
		   "Both take the mount point of a mounted filesystem (synced first; stripes\n"
		   "written meanwhile may disagree) or the member devices of an unmounted one\n"
		   "(opened exclusively; members not given count as missing).\n"
		   "--parity on a degraded array (members missing, or left out of DEVICE...)\n"
		   "rebuilds the missing strips and checks with what is left: raid6 with one\n"
		   "strip missing by the other parity; raid5 with one, raid6 with two, by the\n"
		   "stored checksums of the rebuilt data sectors, and where those do not cover\n"
		   "every referenced column (a missing P, metadata, free space) the stripe is\n"
		   "skipped as no_redundancy_left; more strips missing than parity strips:\n"
		   "missing_device.\n"
		   "\n"
		   "  -p, --parity         check raid5/raid6 parity, counting full stripes\n"
		   "  -r, --recover DEVID  rebuild a member's strips, counting strips\n"
		   "  -j, --json           one JSON object: files, checked, matched,\n"
		   "                       mismatched, skipped {reason: blocks}, mismatches\n"
		   "                       [{path, file_offset, logical, devid, device,\n"
		   "                       physical, mirror, ...}]; with --parity/--recover:\n"
		   "                       mode, unit, block_groups, checked, matched,\n"
		   "                       mismatched, unreferenced, degraded_matched,\n"
		   "                       degraded_mismatched (of matched, mismatched: with\n"
		   "                       strips missing), degraded_by_csum (of those: through\n"
		   "                       data checksums), skipped {missing_device,\n"
		   "                       read_error, no_redundancy_left}, mismatches\n"
		   "                       [{logical (of the full stripe), profile, strip, kind\n"
		   "                       (data|p|q), devid, device, physical (of the first\n"
		   "                       bad sector), sectors, degraded}]\n"
		   "  -h, --help           this text\n"
		   "\n"
		   "Exit status: 0 every checked block (stripe, strip) matches; 1 a mismatch,\n"
		   "a read error on a member device, another failure, or not root; 2 bad\n"
		   "usage, or a path or device verify does not take.\n");
}

/* ---- checksums ---- */

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void csum_plain(const struct bbs_verify_csum *v)
{
	char exp[2 * BBS_CSUM_MAX + 1], got[2 * BBS_CSUM_MAX + 1];
	const char *sep = "";

	for (size_t i = 0; i < v->nr_mm; i++) {
		const struct bbs_verify_mismatch *m = &v->mm[i];

		hex(exp, m->expected, v->csum_size);
		hex(got, m->found, v->csum_size);
		printf("mismatch: %s file_offset %llu%s logical %llu: devid %llu %s physical %llu "
		       "(mirror %d): csum %s, stored %s\n",
		       m->path, (unsigned long long)m->file_offset,
		       m->compressed ? " (compressed extent)" : "", (unsigned long long)m->logical,
		       (unsigned long long)m->devid, m->device, (unsigned long long)m->physical,
		       m->mirror, got, exp);
	}
	printf("files %llu, blocks checked %llu: matched %llu, mismatched %llu\n",
	       (unsigned long long)v->files, (unsigned long long)v->checked,
	       (unsigned long long)v->matched, (unsigned long long)v->mismatched);
	printf("skipped blocks:");
	for (int r = 0; r < BBS_NR_VERIFY_SKIPS; r++) {
		if (!v->skipped[r])
			continue;
		printf("%s %s %llu", sep, bbs_verify_skip_name[r],
		       (unsigned long long)v->skipped[r]);
		sep = ",";
	}
	printf("%s\n", *sep ? "" : " none");
}

static int csum_json(const struct bbs_verify_csum *v)
{
	char exp[2 * BBS_CSUM_MAX + 1], got[2 * BBS_CSUM_MAX + 1];
	json_t *o, *skipped, *mms, *mm;
	int ret = -ENOMEM;

	o = json_object();
	skipped = json_object();
	mms = json_array();
	if (!o || !skipped || !mms)
		goto out_put;
	for (int r = 0; r < BBS_NR_VERIFY_SKIPS; r++)
		json_object_set_new(skipped, bbs_verify_skip_name[r], json_integer(v->skipped[r]));
	for (size_t i = 0; i < v->nr_mm; i++) {
		const struct bbs_verify_mismatch *m = &v->mm[i];

		hex(exp, m->expected, v->csum_size);
		hex(got, m->found, v->csum_size);
		mm = json_pack("{s:I, s:I, s:I, s:I, s:i, s:b, s:s, s:s}", "file_offset",
			       (json_int_t)m->file_offset, "logical", (json_int_t)m->logical,
			       "devid", (json_int_t)m->devid, "physical", (json_int_t)m->physical,
			       "mirror", m->mirror, "compressed", m->compressed, "csum", got,
			       "stored", exp);
		/* Paths are bytes (host/jsonstr.h); a mismatch is never left out. */
		if (!mm || bbs_json_set_str(mm, "path", m->path) ||
		    bbs_json_set_str(mm, "device", m->device) || json_array_append_new(mms, mm)) {
			json_decref(mm);
			ret = bbs_json_print(NULL, 0); /* says it could not be built */
			goto out_put;
		}
	}
	json_object_set_new(o, "files", json_integer(v->files));
	json_object_set_new(o, "checked", json_integer(v->checked));
	json_object_set_new(o, "matched", json_integer(v->matched));
	json_object_set_new(o, "mismatched", json_integer(v->mismatched));
	json_object_set(o, "skipped", skipped);
	json_object_set(o, "mismatches", mms);
	ret = bbs_json_print(o, 0);
out_put:
	json_decref(mms);
	json_decref(skipped);
	json_decref(o);
	return ret;
}

/* ---- parity ---- */

static const char *unit(const struct bbs_verify_parity *v)
{
	return v->nr_recover ? "strips" : "stripes";
}

static void parity_plain(const struct bbs_verify_parity *v)
{
	const char *sep = "";

	for (size_t i = 0; i < v->nr_mm; i++) {
		const struct bbs_vp_mismatch *m = &v->mm[i];

		bool one = m->sectors == 1;

		printf("mismatch: full stripe logical %llu (%s%s): strip %u (%s) devid %llu %s "
		       "physical %llu: %u sector%s %s\n",
		       (unsigned long long)m->logical, m->profile, m->degraded ? ", degraded" : "",
		       m->strip, m->kind, (unsigned long long)m->devid, m->device,
		       (unsigned long long)m->physical, m->sectors, one ? "" : "s",
		       v->nr_recover
			       ? (one ? "differs from its rebuild" : "differ from their rebuild")
			       : (one ? "disagrees" : "disagree"));
	}
	if (v->nr_recover) {
		printf("raid56 block groups %llu, strips of devid %llu",
		       (unsigned long long)v->block_groups, (unsigned long long)v->recover[0]);
		if (v->nr_recover > 1)
			printf(" and %llu", (unsigned long long)v->recover[1]);
		printf(" rebuilt");
	} else {
		printf("raid56 block groups %llu, full stripes checked",
		       (unsigned long long)v->block_groups);
	}
	printf(" %llu: matched %llu, mismatched %llu; unreferenced %llu\n",
	       (unsigned long long)(v->matched + v->mismatched), (unsigned long long)v->matched,
	       (unsigned long long)v->mismatched, (unsigned long long)v->unreferenced);
	if (v->degraded_matched + v->degraded_mismatched)
		printf("of those with strips missing, checked degraded %llu: matched %llu, "
		       "mismatched %llu; through data checksums %llu\n",
		       (unsigned long long)(v->degraded_matched + v->degraded_mismatched),
		       (unsigned long long)v->degraded_matched,
		       (unsigned long long)v->degraded_mismatched,
		       (unsigned long long)v->degraded_by_csum);
	printf("skipped %s:", unit(v));
	for (int r = 0; r < BBS_NR_VP_SKIPS; r++) {
		if (!v->skipped[r])
			continue;
		printf("%s %s %llu", sep, bbs_vp_skip_name[r], (unsigned long long)v->skipped[r]);
		sep = ",";
	}
	printf("%s\n", *sep ? "" : " none");
}

static int parity_json(const struct bbs_verify_parity *v)
{
	json_t *o, *skipped, *mms, *rec, *mm;
	int ret = -ENOMEM;

	o = json_object();
	skipped = json_object();
	mms = json_array();
	rec = json_array();
	if (!o || !skipped || !mms || !rec)
		goto out_put;
	for (int r = 0; r < BBS_NR_VP_SKIPS; r++)
		json_object_set_new(skipped, bbs_vp_skip_name[r], json_integer(v->skipped[r]));
	for (unsigned int t = 0; t < v->nr_recover; t++)
		json_array_append_new(rec, json_integer(v->recover[t]));
	for (size_t i = 0; i < v->nr_mm; i++) {
		const struct bbs_vp_mismatch *m = &v->mm[i];

		mm = json_pack("{s:I, s:s, s:i, s:s, s:I, s:I, s:i, s:b}", "logical",
			       (json_int_t)m->logical, "profile", m->profile, "strip",
			       (int)m->strip, "kind", m->kind, "devid", (json_int_t)m->devid,
			       "physical", (json_int_t)m->physical, "sectors", (int)m->sectors,
			       "degraded", m->degraded);
		if (!mm || bbs_json_set_str(mm, "device", m->device) ||
		    json_array_append_new(mms, mm)) {
			json_decref(mm);
			ret = bbs_json_print(NULL, 0); /* says it could not be built */
			goto out_put;
		}
	}
	json_object_set_new(o, "mode", json_string(v->nr_recover ? "recover" : "parity"));
	if (v->nr_recover)
		json_object_set(o, "recover", rec);
	json_object_set_new(o, "unit", json_string(unit(v)));
	json_object_set_new(o, "block_groups", json_integer(v->block_groups));
	json_object_set_new(o, "checked", json_integer(v->matched + v->mismatched));
	json_object_set_new(o, "matched", json_integer(v->matched));
	json_object_set_new(o, "mismatched", json_integer(v->mismatched));
	json_object_set_new(o, "unreferenced", json_integer(v->unreferenced));
	json_object_set_new(o, "degraded_matched", json_integer(v->degraded_matched));
	json_object_set_new(o, "degraded_mismatched", json_integer(v->degraded_mismatched));
	json_object_set_new(o, "degraded_by_csum", json_integer(v->degraded_by_csum));
	json_object_set(o, "skipped", skipped);
	json_object_set(o, "mismatches", mms);
	ret = bbs_json_print(o, 0);
out_put:
	json_decref(rec);
	json_decref(mms);
	json_decref(skipped);
	json_decref(o);
	return ret;
}

/* ---- the command ---- */

struct verify_cmd {
	bool json, parity;
	uint64_t recover[2];
	unsigned int nr_recover;
};

static int verify_opt(struct verify_cmd *c, int opt, char **argv)
{
	unsigned long long devid;

	switch (opt) {
	case 'j':
		break;
	case 'p':
		c->parity = true;
		break;
	case 'r':
		if (bbs_parse_uint(optarg, UINT64_MAX, &devid) || !devid) {
			bbs_err("bad --recover '%s': a devid, as 'btrfs filesystem show' lists "
				"them",
				optarg);
			return BBS_EXIT_USAGE;
		}
		if (c->nr_recover == 2) {
			bbs_err("--recover at most twice: raid6 rebuilds two members");
			return BBS_EXIT_USAGE;
		}
		if (c->nr_recover && c->recover[0] == devid) {
			bbs_err("--recover %llu given twice", devid);
			return BBS_EXIT_USAGE;
		}
		c->recover[c->nr_recover++] = devid;
		break;
	case 'h':
		usage(stdout);
		return BBS_EXIT_OK;
	default:
		return bbs_opt_error(opt, argv, "verify");
	}
	return BBS_PARSE_GO;
}

static int parse_opts(int argc, char **argv, struct verify_cmd *c)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "parity", no_argument, NULL, 'p' },
		{ "recover", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int opt, ret;

	bbs_opt_start();
	while ((opt = getopt_long(argc, argv, ":jpr:h", opts, NULL)) != -1) {
		ret = verify_opt(c, opt, argv);
		if (ret != BBS_PARSE_GO)
			return ret;
	}
	if (c->parity && c->nr_recover) {
		bbs_err("--parity and --recover are separate runs (see 'bbscope verify --help')");
		return BBS_EXIT_USAGE;
	}
	if (optind >= argc) {
		bbs_err("verify needs %s (see 'bbscope verify --help')",
			c->parity || c->nr_recover ? "a mount point or the member devices"
						   : "a file or directory");
		return BBS_EXIT_USAGE;
	}
	if (geteuid() != 0) {
		bbs_err("verify needs root: tree search and device reads need CAP_SYS_ADMIN "
			"(run as root)");
		return BBS_EXIT_FAIL;
	}
	return BBS_PARSE_GO;
}

/* Mismatches and read errors fail; a failure to print does too. */
static int verify_stripes(const struct verify_cmd *c, char *const *targets, int n)
{
	struct bbs_verify_parity r;
	int ret = bbs_verify_parity(targets, n, c->recover, c->nr_recover, &r);

	if (ret)
		return ret == -EINVAL ? BBS_EXIT_USAGE : BBS_EXIT_FAIL;
	if (!c->json)
		parity_plain(&r);
	else if (parity_json(&r))
		ret = -1;
	if (!ret && !r.mismatched && !r.skipped[BBS_VP_READ_ERROR])
		ret = BBS_EXIT_OK;
	else
		ret = BBS_EXIT_FAIL;
	bbs_verify_parity_free(&r);
	return ret;
}

static int verify_files(const struct verify_cmd *c, char *const *paths, int n)
{
	struct bbs_verify_csum r;
	int ret;

	if (bbs_verify_csum_paths(paths, n))
		return BBS_EXIT_USAGE;
	if (bbs_verify_csum(paths, n, &r))
		return BBS_EXIT_FAIL;
	if (!c->json)
		csum_plain(&r);
	ret = c->json ? csum_json(&r) : 0;
	if (!ret && !r.mismatched && !r.skipped[BBS_SKIP_READ_ERROR])
		ret = BBS_EXIT_OK;
	else
		ret = BBS_EXIT_FAIL;
	bbs_verify_csum_free(&r);
	return ret;
}

int cmd_verify(int argc, char **argv)
{
	struct verify_cmd c = { 0 };
	int ret;

	/* Errors come out as JSON when JSON was asked for, even in option parsing. */
	c.json = bbs_opt_json(argc, argv);
	ret = parse_opts(argc, argv, &c);
	if (ret != BBS_PARSE_GO)
		return ret;
	if (c.parity || c.nr_recover)
		return verify_stripes(&c, argv + optind, argc - optind);
	return verify_files(&c, argv + optind, argc - optind);
}
