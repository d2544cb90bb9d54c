// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope sandbox up | down | status: the command line of the sandbox
 * mechanism (sandbox/sandbox.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "sandbox/sandbox.h"
#include "host/util.h"
#include "render/print.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope sandbox up [OPTIONS]\n"
		"       bbscope sandbox down [--json]\n"
		"       bbscope sandbox status [--json]\n"
		"\n"
		"Make or remove a throwaway btrfs on loop devices backed by sparse files.\n"
		"'up' prints the mount point, 'down' removes exactly what 'up' made.  The state\n"
		"is kept in $BBSCOPE_STATE_DIR (default " BBS_SB_DEF_STATE_DIR ").\n"
		"\n"
		"up options:\n"
		"  --profile P       data profile: single dup raid0 raid1 raid1c3 raid1c4 raid10\n"
		"                    raid5 raid6 (default single)\n"
		"  --devices N       loop devices, at most %d (default by profile: single/dup 1,\n"
		"                    raid0/raid1 2, raid1c3/raid5 3, raid1c4/raid6/raid10 4)\n"
		"  --size SIZE       size of each device, at least 128M (default 1G)\n"
		"  --algo ALGO       checksum: crc32c xxhash sha256 blake2 (default crc32c;\n"
		"                    --csum: the same, as mkfs.btrfs calls it)\n"
		"  --metadata P      metadata profile (default: as data, but single->dup,\n"
		"                    raid5->raid1, raid6->raid1c3)\n"
		"  --mount-opts O    extra mount options, e.g. noatime,compress=zstd\n"
		"  --backing-dir D   where devN.img go (default " BBS_SB_DEF_BACKING_DIR ")\n"
		"  --json            print a JSON object (errors too)\n"
		"\n"
		"Exit status: 0 done, 1 failed (or, for status, no sandbox is up; or not\n"
		"root), 2 bad usage.\n",
		BBS_SB_MAX_DEVS);
}

static void print_state(const struct bbs_sandbox *st, bool json)
{
	json_t *o;

	if (!json) {
		/* The JSON keys as labels: one name for one thing. */
		printf("%-17s %s\n", "mountpoint", st->mnt);
		printf("%-17s %s\n", "fsid", st->fsid);
		printf("%-17s %s\n", "profile", st->profile);
		printf("%-17s %s\n", "metadata_profile", st->metadata);
		printf("%-17s %s\n", "algo", st->algo);
		printf("%-17s %llu\n", "size_bytes", (unsigned long long)st->size);
		printf("%-17s %s\n", "backing_dir", st->backing_dir);
		printf("%-17s", "devices");
		for (unsigned int i = 0; i < st->ndevs; i++)
			printf(" %s", st->devs[i].dev);
		putchar('\n');
		return;
	}
	o = bbs_sandbox_json(st);
	bbs_json_print(o, 0);
	json_decref(o);
}

/* Root, or one error line: "needs root" is a failure (1), as for every command. */
static int need_root(void)
{
	if (geteuid() == 0)
		return 0;
	bbs_err("sandbox needs root (loop devices, mkfs and mount)");
	return BBS_EXIT_FAIL;
}

/* What `up` reads before it can check it: the options that depend on others. */
struct up_args {
	unsigned long long ndevs; /* 0: the profile's default */
	const char *meta, *mount_opts;
};

/* One option of `up`: BBS_PARSE_GO, or the exit status after a message. */
static int up_opt(int c, char **argv, struct bbs_sb_opts *o, struct up_args *a)
{
	switch (c) {
	case 'p':
		o->data = bbs_sb_profile(optarg, true);
		if (!o->data) {
			bbs_err("bad --profile '%s': single, dup, raid0, raid1, raid1c3, raid1c4, "
				"raid10, raid5 or raid6",
				optarg);
			return BBS_EXIT_USAGE;
		}
		break;
	case 'n':
		if (bbs_parse_uint(optarg, BBS_SB_MAX_DEVS, &a->ndevs) || !a->ndevs) {
			bbs_err("bad --devices '%s': a number from 1 to %d", optarg,
				BBS_SB_MAX_DEVS);
			return BBS_EXIT_USAGE;
		}
		break;
	case 's':
		if (bbs_parse_size(optarg, &o->size)) {
			bbs_err("bad --size '%s': a size like 512M or 2G", optarg);
			return BBS_EXIT_USAGE;
		}
		if (o->size < BBS_SB_MIN_SIZE) {
			bbs_err("--size %s is too small: btrfs needs at least 128M per device",
				optarg);
			return BBS_EXIT_USAGE;
		}
		break;
	case 'a':
	case 'c':
		if (bbs_opt_algo(c == 'a' ? "--algo" : "--csum", optarg, &o->algo))
			return BBS_EXIT_USAGE;
		break;
	case 'b':
		if (!*optarg) {
			bbs_err("bad --backing-dir '': give a directory");
			return BBS_EXIT_USAGE;
		}
		o->backing_dir = optarg;
		break;
	case 'h':
		usage(stdout);
		return BBS_EXIT_OK;
	case 'o':
		a->mount_opts = optarg;
		break;
	case 'm':
		a->meta = optarg;
		break;
	case 'j':
		break; /* read before the others: bbs_opt_json() */
	default:
		return bbs_opt_error(c, argv, "sandbox up");
	}
	return BBS_PARSE_GO;
}

/* What the options of `up` say together. */
static int up_check(struct bbs_sb_opts *o, const struct up_args *a)
{
	const char *meta = a->meta;

	o->ndevs = a->ndevs ? a->ndevs : o->data->def_devs;
	if (o->ndevs < o->data->min_devs) {
		bbs_err("--devices %u is too few for --profile %s: it needs at least %u", o->ndevs,
			o->data->name, o->data->min_devs);
		return BBS_EXIT_USAGE;
	}
	o->meta = bbs_sb_profile(meta ? meta : o->data->meta, false);
	if (!o->meta) {
		bbs_err("bad --metadata '%s': single, dup, raid0, raid1, raid1c3, raid1c4, raid10, "
			"raid5 or raid6",
			meta);
		return BBS_EXIT_USAGE;
	}
	if (o->ndevs < o->meta->min_devs) {
		bbs_err("--metadata %s needs at least %u devices, not %u", o->meta->name,
			o->meta->min_devs, o->ndevs);
		return BBS_EXIT_USAGE;
	}
	if (a->mount_opts && bbs_sb_mount_opts(a->mount_opts, o)) {
		bbs_err("bad --mount-opts: longer than %zu bytes", sizeof(o->mnt_data) - 1);
		return BBS_EXIT_USAGE;
	}
	return BBS_PARSE_GO;
}

static int parse_up(int argc, char **argv, struct bbs_sb_opts *o)
{
	static const struct option opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "devices", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "algo", required_argument, NULL, 'a' },
		{ "csum", required_argument, NULL, 'c' },
		{ "mount-opts", required_argument, NULL, 'o' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "backing-dir", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct up_args a = { 0 };
	int c, ret;

	o->data = bbs_sb_profile("single", true);
	o->size = BBS_SB_DEF_SIZE;
	o->algo = BBS_CSUM_CRC32C;
	o->backing_dir = BBS_SB_DEF_BACKING_DIR;
	bbs_opt_start();
	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		ret = up_opt(c, argv, o, &a);
		if (ret != BBS_PARSE_GO)
			return ret;
	}
	if (optind < argc) {
		bbs_err("sandbox up: unexpected argument '%s'", argv[optind]);
		return BBS_EXIT_USAGE;
	}
	return up_check(o, &a);
}

/* Options of `down` and `status`: only --json. */
static int parse_json_only(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char cmd[32];
	int c;

	snprintf(cmd, sizeof(cmd), "sandbox %s", argv[0]);
	bbs_opt_start();
	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			break;
		case 'h':
			usage(stdout);
			return BBS_EXIT_OK;
		default:
			return bbs_opt_error(c, argv, cmd);
		}
	}
	if (optind < argc) {
		bbs_err("%s: unexpected argument '%s'", cmd, argv[optind]);
		return BBS_EXIT_USAGE;
	}
	return BBS_PARSE_GO;
}

static int do_up(int argc, char **argv)
{
	struct bbs_sb_opts o = { 0 };
	struct bbs_sandbox sb;
	bool json = bbs_opt_json(argc, argv);
	int r = parse_up(argc, argv, &o);

	if (r != BBS_PARSE_GO)
		return r;
	if (need_root())
		return BBS_EXIT_FAIL;
	if (bbs_sandbox_up(&o, &sb))
		return BBS_EXIT_FAIL;
	if (json)
		print_state(&sb, true);
	else
		printf("%s\n", sb.mnt);
	return BBS_EXIT_OK;
}

static int do_down(int argc, char **argv)
{
	struct bbs_sandbox sb;
	bool json = bbs_opt_json(argc, argv);
	int r = parse_json_only(argc, argv);

	if (r != BBS_PARSE_GO)
		return r;
	if (need_root())
		return BBS_EXIT_FAIL;
	if (bbs_sandbox_down(&sb))
		return BBS_EXIT_FAIL;
	if (json)
		print_state(&sb, true);
	return BBS_EXIT_OK;
}

static int do_status(int argc, char **argv)
{
	struct bbs_sandbox sb;
	bool json = bbs_opt_json(argc, argv);
	int r = parse_json_only(argc, argv);

	if (r != BBS_PARSE_GO)
		return r;
	if (bbs_sandbox_status(&sb))
		return BBS_EXIT_FAIL;
	print_state(&sb, json);
	return BBS_EXIT_OK;
}

int cmd_sandbox(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} subs[] = {
		{ "up", do_up },
		{ "down", do_down },
		{ "status", do_status },
	};
	size_t n;

	if (argc < 2) {
		usage(stderr);
		return BBS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return BBS_EXIT_OK;
	}
	/* A prefix will do, as for the commands; no two subcommands share one. */
	n = strlen(argv[1]);
	for (size_t i = 0; n && i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strncmp(argv[1], subs[i].name, n))
			return subs[i].fn(argc - 1, argv + 1);
	bbs_err("sandbox: unknown subcommand '%s' (up, down or status)", argv[1]);
	return BBS_EXIT_USAGE;
}
