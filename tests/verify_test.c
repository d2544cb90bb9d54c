// SPDX-License-Identifier: GPL-2.0
/*
 * The verify engines through their struct API, no argv, on a raid5
 * sandbox made with sandbox/sandbox.h: bbs_verify_csum() checks every block of
 * a freshly written file and finds it all matching; bbs_verify_parity()
 * checks every full stripe and finds P right, and rebuilds a member's
 * strips as they are; bad input (a path off btrfs, a devid that is no
 * member, two mount points) is -EINVAL before anything is read.
 *
 * Needs root (loop devices, mount, tree search) and mkfs.btrfs: skips (77)
 * without them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "verify/verify.h"

#include "check.h"

#define FILE_BYTES (4U << 20)

static char dir[256];

/* FILE_BYTES of random data in path, on disk with its checksums. */
static int write_file(const char *path)
{
	uint8_t *buf = malloc(FILE_BYTES);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), ret = -1;

	if (buf && fd >= 0) {
		srandom(7);
		for (size_t i = 0; i < FILE_BYTES; i++)
			buf[i] = random();
		if (write(fd, buf, FILE_BYTES) == FILE_BYTES && !fsync(fd))
			ret = 0;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static void test_csum(const struct bbs_sandbox *sb, char *file)
{
	char *paths[] = { file }, *bad[] = { "/proc" };
	struct bbs_verify_csum r;
	int ret;

	CHECK(bbs_verify_csum_paths(paths, 1) == 0, "%s refused", file);
	CHECK(bbs_verify_csum_paths(bad, 1) == -EINVAL, "/proc accepted");
	ret = bbs_verify_csum(paths, 1, &r);
	CHECK(ret == 0, "verify %s: %d", file, ret);
	if (ret)
		return;
	/* raid5 data has one copy: its data strip. */
	CHECK(r.files == 1 && r.checked == FILE_BYTES / 4096 && r.matched == r.checked &&
		      !r.mismatched && !r.nr_mm,
	      "%llu files, %llu checked, %llu matched, %llu mismatched",
	      (unsigned long long)r.files, (unsigned long long)r.checked,
	      (unsigned long long)r.matched, (unsigned long long)r.mismatched);
	CHECK(r.csum_size == 4, "crc32c checksums are 4 bytes, not %zu", r.csum_size);
	bbs_verify_csum_free(&r);
	printf("ok verify checksums: %s, %u blocks, all matching\n", sb->profile,
	       FILE_BYTES / 4096);
}

static void test_parity(const struct bbs_sandbox *sb)
{
	char *targets[] = { (char *)sb->mnt }, *two[] = { (char *)sb->mnt, (char *)sb->mnt };
	uint64_t devid = 1, none = 99;
	struct bbs_verify_parity r;
	int ret;

	ret = bbs_verify_parity(targets, 1, NULL, 0, &r);
	CHECK(ret == 0, "verify --parity: %d", ret);
	if (!ret) {
		CHECK(r.block_groups > 0 && r.matched > 0 && !r.mismatched && !r.nr_mm,
		      "%llu block groups, %llu matched, %llu mismatched",
		      (unsigned long long)r.block_groups, (unsigned long long)r.matched,
		      (unsigned long long)r.mismatched);
		bbs_verify_parity_free(&r);
	}
	ret = bbs_verify_parity(targets, 1, &devid, 1, &r);
	CHECK(ret == 0, "verify --recover 1: %d", ret);
	if (!ret) {
		CHECK(r.matched > 0 && !r.mismatched, "recover: %llu matched, %llu mismatched",
		      (unsigned long long)r.matched, (unsigned long long)r.mismatched);
		bbs_verify_parity_free(&r);
	}
	CHECK(bbs_verify_parity(targets, 1, &none, 1, &r) == -EINVAL, "devid 99 accepted");
	CHECK(bbs_verify_parity(two, 2, NULL, 0, &r) == -EINVAL, "two mount points accepted");
	printf("ok verify parity: every full stripe's P right, member 1 rebuilt as it is\n");
}

/* The sandbox: raid5 on 3 devices, its state and backing files in dir. */
static int sandbox_up(struct bbs_sandbox *sb)
{
	struct bbs_sb_opts o = {
		.data = bbs_sb_profile("raid5", true),
		.ndevs = 3,
		.size = 256ULL << 20,
		.algo = BBS_CSUM_CRC32C,
	};
	char state[300], backing[300];

	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(backing, sizeof(backing), "%s/backing", dir);
	setenv("BBSCOPE_STATE_DIR", state, 1);
	o.meta = bbs_sb_profile(o.data->meta, false);
	o.backing_dir = backing;
	return bbs_sandbox_up(&o, sb);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct bbs_sandbox sb, gone;
	char file[PATH_MAX + 16];

	if (geteuid()) {
		printf("SKIP: needs root (loop devices, mount, tree search)\n");
		return 77;
	}
	if (system("command -v mkfs.btrfs >/dev/null")) {
		printf("SKIP: mkfs.btrfs missing (btrfs-progs)\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "%s/verify_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || sandbox_up(&sb)) {
		printf("FAIL: cannot bring a raid5 sandbox up in %s\n", dir);
		return 1;
	}
	snprintf(file, sizeof(file), "%s/data", sb.mnt);
	CHECK(!write_file(file), "cannot write %s: %s", file, strerror(errno));
	test_csum(&sb, file);
	test_parity(&sb);
	CHECK(!bbs_sandbox_down(&gone), "the sandbox did not come down");
	snprintf(file, sizeof(file), "rm -rf '%s'", dir);
	if (system(file))
		printf("note: cannot remove %s\n", dir);
	printf("%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
