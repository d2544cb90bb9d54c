// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope bench: the options of a bench run (bench/bench.h), and its table
 * or JSON on stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "cli/cmd.h"
#include "cli/options.h"
#include "host/util.h"
#include "render/print.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bbscope bench [--profile single|raid1|raid5|raid6] [--algo ALGO]\n"
		"                     [--size SIZE] [--bs SIZE] [--pattern seq|rand]\n"
		"                     [--writeback background|fsync] [--workload buffered|direct]\n"
		"                     [--sweep qd=N,N,...] [--sweep algo=ALGO,ALGO,...]\n"
		"                     [--backing tmpfs|zram|file] [--backing-dir DIR]\n"
		"                     [--devices N] [--fs MOUNTPOINT] [--rounds N]\n"
		"                     [--json] [--html FILE]\n"
		"\n"
		"Measure btrfs's write path in the kernel and its userspace reproductions side\n"
		"by side: bring up a sandbox btrfs (or use --fs), record a write workload on it\n"
		"('bbscope record'), replay the recorded data writes with 'bbscope replay csum'\n"
		"in modes none, serial, async and offload (and 'replay parity' step and batched\n"
		"for raid5/raid6), measure memory (m), checksum (c) and device (d) bandwidth,\n"
		"and print one table with the model's predicted async/serial speedup beside the\n"
		"measured one.  Rounds are interleaved; medians with min and max.  Everything\n"
		"made is torn down, also on failure and Ctrl-C; what a run killed with SIGKILL\n"
		"left is removed by the next one.  Needs root.\n"
		"\n"
		"  --profile P        sandbox data profile: single (default), raid1, raid5, raid6\n"
		"  --algo ALGO        crc32c (default), xxhash, sha256, blake2 (--csum: the\n"
		"                     same, as mkfs.btrfs calls it)\n"
		"  --size SIZE        bytes the workload writes (default 256M)\n"
		"  --bs SIZE          bytes per write call (default 128K)\n"
		"  --pattern P        seq (default): buffered sequential writes; rand: O_DIRECT\n"
		"                     random writes, 16 in flight (buffered random writes are\n"
		"                     sorted back into sequential ones by writeback)\n"
		"  --writeback W      background (default): the writer starts writeback of\n"
		"                     every 8 MiB it wrote (sync_file_range WRITE, as the\n"
		"                     flusher would: btrfs may checksum on a worker), and\n"
		"                     fsyncs at the end; fsync: only the fsync at the end\n"
		"                     (synchronous writeback: btrfs checksums inline)\n"
		"  --workload W       buffered (default): as --pattern and --writeback say;\n"
		"                     direct: O_DIRECT writes of --bs (default 1M), one at a\n"
		"                     time (the async csum series' own case)\n"
		"  --sweep qd=LIST    replay at each queue depth (default 16); algo=LIST: with\n"
		"                     each checksum too; the model predicts every point\n"
		"  --backing B        where the sandbox's devices and the replay targets live:\n"
		"                     tmpfs (default, /dev/shm), file (a directory on disk,\n"
		"                     /var/tmp) or zram (an ext4 on a zram device made for the "
		"run)\n"
		"  --backing-dir DIR  the directory for tmpfs (must be on a tmpfs) or file\n"
		"  --devices N        sandbox devices (default by profile: 1, 2, 3, 4)\n"
		"  --fs MOUNTPOINT    write to this btrfs instead of a sandbox (in a directory\n"
		"                     made and removed by the run); profile and checksum are\n"
		"                     read from it\n"
		"  --rounds N         rounds, 1 to %d (default 3)\n"
		"  --json             one JSON object on stdout (errors too)\n"
		"  --html FILE        also write the tables and charts as one self-contained\n"
		"                     HTML page\n"
		"  --force            replace an existing --html FILE\n"
		"\n"
		"Exit status: 0 measured, 1 failed (or not root), 2 bad usage, 128+N killed by\n"
		"signal N\n"
		"(everything made was removed in every case).\n",
		BBS_BENCH_MAX_ROUNDS);
}

/* A value from a fixed list (--profile, --pattern, ...): its index, or -1 after saying so. */
static int pick(const char *opt, const char *val, const char *const *names, int n, const char *want)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(val, names[i]))
			return i;
	bbs_err("%s %s: want %s", opt, val, want);
	return -1;
}

static int size_opt(struct bbs_bench_opts *o, int c)
{
	if (c == 's' && (bbs_parse_size(optarg, &o->size) || o->size < (1 << 20))) {
		bbs_err("--size %s: want a size of at least 1M", optarg);
		return BBS_EXIT_USAGE;
	}
	o->have_bs |= c == 'b';
	if (c == 'b' &&
	    (bbs_parse_size(optarg, &o->bs) || !o->bs || o->bs % 4096 || o->bs > (64 << 20))) {
		bbs_err("--bs %s: want a multiple of 4K, at most 64M", optarg);
		return BBS_EXIT_USAGE;
	}
	return BBS_PARSE_GO;
}

/* --sweep qd=1,4,16 or algo=crc32c,sha256 */
static int sweep_opt(struct bbs_bench_opts *o, const char *arg)
{
	char buf[256], *save = NULL;
	bool qd = !strncmp(arg, "qd=", 3), algo = !strncmp(arg, "algo=", 5);
	unsigned long long v;

	snprintf(buf, sizeof(buf), "%s", arg + (qd ? 3 : 5));
	if (!qd && !algo) {
		bbs_err("--sweep %s: want qd=N,N,... or algo=ALGO,ALGO,...", arg);
		return BBS_EXIT_USAGE;
	}
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if ((qd ? o->nqd : o->nalgo) >= BBS_BENCH_MAX_SWEEP) {
			bbs_err("--sweep %s: at most %d values", arg, BBS_BENCH_MAX_SWEEP);
			return BBS_EXIT_USAGE;
		}
		if (qd) {
			if (bbs_parse_uint(t, 4096, &v) || !v) {
				bbs_err("--sweep %s: queue depth %s: want 1 to 4096", arg, t);
				return BBS_EXIT_USAGE;
			}
			o->qds[o->nqd++] = v;
		} else if (bbs_opt_algo("--sweep algo", t, &o->algos[o->nalgo++])) {
			return BBS_EXIT_USAGE;
		}
	}
	return BBS_PARSE_GO;
}

static int bench_opt(struct bbs_bench_opts *o, int c, char **argv)
{
	static const char *const profiles[] = { "single", "raid1", "raid5", "raid6" };
	static const char *const patterns[] = { "seq", "rand" };
	static const char *const writebacks[] = { "background", "fsync" };
	static const char *const workloads[] = { "buffered", "direct" };
	unsigned long long v;
	int i;

	switch (c) {
	case 'p':
		i = pick("--profile", optarg, profiles, 4, "single, raid1, raid5 or raid6");
		if (i < 0)
			return BBS_EXIT_USAGE;
		o->profile = profiles[i];
		break;
	case 'a':
	case 'c':
		if (bbs_opt_algo(c == 'a' ? "--algo" : "--csum", optarg, &o->algo))
			return BBS_EXIT_USAGE;
		o->have_algo = true;
		break;
	case 's':
	case 'b':
		return size_opt(o, c);
	case 'P':
		i = pick("--pattern", optarg, patterns, 2, "seq or rand");
		if (i < 0)
			return BBS_EXIT_USAGE;
		o->rand = i;
		break;
	case 'W':
		i = pick("--writeback", optarg, writebacks, 2, "background or fsync");
		if (i < 0)
			return BBS_EXIT_USAGE;
		o->fsync_only = i;
		break;
	case 'B':
		i = pick("--backing", optarg, bbs_backing_name, BBS_NR_BACKINGS,
			 "tmpfs, zram or file");
		if (i < 0)
			return BBS_EXIT_USAGE;
		o->backing = i;
		break;
	case 'D':
		o->backing_dir = optarg;
		break;
	case 'n':
		if (bbs_parse_uint(optarg, 16, &v) || !v) {
			bbs_err("--devices %s: want 1 to 16", optarg);
			return BBS_EXIT_USAGE;
		}
		o->devices = v;
		break;
	case 'f':
		o->fs = optarg;
		break;
	case 'r':
		if (bbs_parse_uint(optarg, BBS_BENCH_MAX_ROUNDS, &v) || !v) {
			bbs_err("--rounds %s: want 1 to %d", optarg, BBS_BENCH_MAX_ROUNDS);
			return BBS_EXIT_USAGE;
		}
		o->rounds = v;
		break;
	case 'j':
		break;
	case 'w':
		i = pick("--workload", optarg, workloads, 2, "buffered or direct");
		if (i < 0)
			return BBS_EXIT_USAGE;
		o->direct = i;
		break;
	case 'S':
		return sweep_opt(o, optarg);
	case 'H':
		o->html = optarg;
		break;
	case 'F':
		o->force = true;
		break;
	case 'h':
		usage(stdout);
		return BBS_EXIT_OK;
	default:
		return bbs_opt_error(c, argv, "bench");
	}
	return BBS_PARSE_GO;
}

/* What the options say together. */
static int bench_check(struct bbs_bench_opts *o)
{
	if (o->direct && !o->have_bs)
		o->bs = 1ULL << 20;
	if (o->direct && o->rand) {
		bbs_err("--workload direct writes sequentially: not with --pattern rand");
		return BBS_EXIT_USAGE;
	}
	if (o->size % o->bs) {
		bbs_err("--size must be a multiple of --bs (%llu)", (unsigned long long)o->bs);
		return BBS_EXIT_USAGE;
	}
	if (o->fs && (o->devices || o->profile)) {
		bbs_err("--fs writes to an existing btrfs: --devices and --profile are for a "
			"sandbox");
		return BBS_EXIT_USAGE;
	}
	if (o->backing_dir && o->backing == BBS_BACK_ZRAM) {
		bbs_err("--backing-dir is for --backing tmpfs or file");
		return BBS_EXIT_USAGE;
	}
	return BBS_PARSE_GO;
}

static int parse_opts(int argc, char **argv, struct bbs_bench_opts *o)
{
	static const struct option long_opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "algo", required_argument, NULL, 'a' },
		{ "csum", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "bs", required_argument, NULL, 'b' },
		{ "pattern", required_argument, NULL, 'P' },
		{ "writeback", required_argument, NULL, 'W' },
		{ "backing", required_argument, NULL, 'B' },
		{ "backing-dir", required_argument, NULL, 'D' },
		{ "devices", required_argument, NULL, 'n' },
		{ "fs", required_argument, NULL, 'f' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "workload", required_argument, NULL, 'w' },
		{ "sweep", required_argument, NULL, 'S' },
		{ "html", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, ret;

	bbs_opt_start();
	while ((c = getopt_long(argc, argv, ":jh", long_opts, NULL)) != -1) {
		ret = bench_opt(o, c, argv);
		if (ret != BBS_PARSE_GO)
			return ret;
	}
	if (optind < argc) {
		bbs_err("bench takes no arguments ('%s'); see 'bbscope bench --help'",
			argv[optind]);
		return BBS_EXIT_USAGE;
	}
	return bench_check(o);
}

int cmd_bench(int argc, char **argv)
{
	struct bbs_bench_opts o = { .size = BBS_BENCH_DEF_SIZE,
				    .bs = BBS_BENCH_DEF_BS,
				    .rounds = 3 };
	struct bbs_bench *b;
	bool json = bbs_opt_json(argc, argv);
	json_t *j;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret != BBS_PARSE_GO)
		return ret;
	if (geteuid()) {
		bbs_err("bench: needs root (loop devices, mount, BPF)");
		return BBS_EXIT_FAIL;
	}
	if (bbs_bench_check(&o))
		return BBS_EXIT_USAGE;
	ret = bbs_bench_run(&o, &b);
	if (ret)
		return ret;
	if (json) {
		j = bbs_bench_json(b);
		if (bbs_json_print(j, JSON_REAL_PRECISION(6)))
			ret = BBS_EXIT_FAIL;
		json_decref(j);
	} else {
		fputs(bbs_bench_table(b), stdout);
	}
	bbs_bench_free(b);
	return ret;
}
