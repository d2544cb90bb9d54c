// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "host/sys.h"

int bbs_sys_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		errno = EIO;
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

int bbs_sys_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -1;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -1;
	if (close(fd))
		ret = -1;
	return ret;
}

int bbs_umount(const char *path, int flags)
{
	struct timespec pause = { 0, 100000000L };

	for (int waited = 0; umount2(path, flags); waited += 100) {
		if (errno != EBUSY || waited >= BBS_UMOUNT_WAIT_MS)
			return -1;
		nanosleep(&pause, NULL);
	}
	return 0;
}
