// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope csum: the checksums btrfs stores for a file's data blocks, computed
 * in userspace from the file's bytes, one line per block:
 *
 *   <offset> <checksum in hex, bytes in on-disk order>
 *
 * The hex is what 'btrfs inspect-internal dump-tree --csum-items' prints for
 * the same block, so the two can be compared line by line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "btrfs/csum.h"
#include "host/util.h"
#include "render/print.h"

#define CSUM_MIN_BLOCK 512
#define CSUM_MAX_BLOCK 65536
/* Bytes per read(): a multiple of every block size allowed. */
#define CSUM_READ_SIZE (1U << 20)

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope csum [--algo ALGO] [--block-size N] FILE...\n"
		   "\n"
		   "Print the checksum btrfs stores for each block of each FILE, one line per\n"
		   "block: '<offset> <checksum>', the offset in bytes and the checksum in hex,\n"
		   "its bytes in on-disk order (as 'btrfs inspect-internal dump-tree\n"
		   "--csum-items' prints them).  A last partial block is checksummed padded\n"
		   "with zeroes, as btrfs does.  With more than one FILE, each file's lines\n"
		   "follow a line '==> FILE <==' (as head(1) does).  FILE '-' is stdin.\n"
		   "\n"
		   "  -a, --algo ALGO       crc32c (the default), xxhash, sha256 or blake2:\n"
		   "                        the filesystem's 'mkfs.btrfs --csum' (also --csum)\n"
		   "  -b, --block-size N    the filesystem's sector size, a power of two from\n"
		   "                        512 to 64K (default 4096)\n"
		   "  -h, --help            show this text\n");
}

/* Read up to len bytes, fewer only at end of file.  Bytes read, or -1 (errno set). */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

static void print_csums(uint64_t offset, const uint8_t *csums, size_t n, size_t block,
			size_t csum_size)
{
	char line[BBS_CSUM_LINE_MAX];

	for (size_t i = 0; i < n; i++, offset += block, csums += csum_size)
		fwrite(line, 1, bbs_csum_line(line, offset, csums, csum_size), stdout);
}

/* Checksum one open file.  0, or -1 after saying why. */
static int csum_fd(int fd, const char *name, enum bbs_csum_type type, size_t block, uint8_t *buf,
		   uint8_t *csums)
{
	size_t csum_size = bbs_csum_size(type);
	uint64_t offset = 0;

	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t got = read_full(fd, buf, CSUM_READ_SIZE);
		size_t n;

		if (got < 0) {
			bbs_err("cannot read %s: %s", name, strerror(errno));
			return -1;
		}
		/* Bytes past EOF in the last sector are zero on disk. */
		if (got % block)
			memset(buf + got, 0, block - got % block);
		n = (got + block - 1) / block;
		bbs_csum_blocks(type, buf, n * block, block, csums);
		print_csums(offset, csums, n, block, csum_size);
		if (ferror(stdout))
			return -1; /* bbs_exit() says why */
		offset += got;
		if ((size_t)got < CSUM_READ_SIZE)
			return 0;
	}
}

int cmd_csum(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "algo", required_argument, NULL, 'a' },
		{ "csum", required_argument, NULL, 'c' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	enum bbs_csum_type type = BBS_CSUM_CRC32C;
	uint64_t block = 4096;
	bool first = true;
	uint8_t *buf = NULL, *csums = NULL;
	int c, ret = 0;

	bbs_opt_start();
	while ((c = getopt_long(argc, argv, ":a:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
		case 'c':
			if (bbs_opt_algo(c == 'a' ? "--algo" : "--csum", optarg, &type))
				return BBS_EXIT_USAGE;
			break;
		case 'b':
			if (bbs_parse_size(optarg, &block) || block < CSUM_MIN_BLOCK ||
			    block > CSUM_MAX_BLOCK || (block & (block - 1))) {
				bbs_err("bad block size '%s': a power of two from 512 to 64K",
					optarg);
				return BBS_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return BBS_EXIT_OK;
		default:
			return bbs_opt_error(c, argv, "csum");
		}
	}
	if (optind >= argc) {
		bbs_err("csum: no FILE given (see 'bbscope csum --help')");
		return BBS_EXIT_USAGE;
	}

	buf = aligned_alloc(CSUM_MAX_BLOCK, CSUM_READ_SIZE);
	csums = malloc(CSUM_READ_SIZE / CSUM_MIN_BLOCK * BBS_CSUM_MAX);
	if (!buf || !csums) {
		bbs_err("out of memory");
		ret = BBS_EXIT_FAIL;
		goto out_free;
	}

	for (int i = optind; i < argc; i++) {
		const char *name = argv[i];
		bool is_stdin = !strcmp(name, "-");
		int fd = is_stdin ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			bbs_err("cannot open %s: %s", name, strerror(errno));
			ret = BBS_EXIT_FAIL;
			continue;
		}
		if (argc - optind > 1) {
			printf("%s==> %s <==\n", first ? "" : "\n",
			       is_stdin ? "standard input" : name);
			first = false;
		}
		if (csum_fd(fd, is_stdin ? "standard input" : name, type, block, buf, csums))
			ret = BBS_EXIT_FAIL;
		if (!is_stdin)
			close(fd);
	}
out_free:
	free(csums);
	free(buf);
	return ret;
}
