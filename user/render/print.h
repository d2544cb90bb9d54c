/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Printing to stdout that knows when it failed.  A command's last word on
 * its output is bbs_exit() (cli/options.h), which flushes and turns a failed
 * write into exit status 1; these are for the places that must stop sooner
 * (a live loop printing every interval) or print one JSON document.
 */
#ifndef BBS_RENDER_PRINT_H
#define BBS_RENDER_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "btrfs/csum.h"

/*
 * One JSON document on one line of stdout (json_dumpf() flags, JSON_COMPACT
 * added).  0, or -1 when it could not be written, or o is NULL (an object
 * that could not be built: one error line then).
 */
int bbs_json_print(const json_t *o, size_t flags);

/* Flush stdout: true when everything written so far reached it. */
bool bbs_stdout_ok(void);

/* "512 B", "1.5 KiB", "3.0 GiB": bytes in powers of 1024, for people. */
void bbs_human_bytes(uint64_t bytes, char *buf, size_t len);

/*
 * One line of a checksum listing, '<offset> <checksum in hex>\n', the bytes
 * in on-disk order (as 'btrfs inspect-internal dump-tree --csum-items'
 * prints them): what `bbscope csum` prints and `replay csum --csum-out`
 * writes.  buf holds BBS_CSUM_LINE_MAX; returns the length (no NUL).
 */
#define BBS_CSUM_LINE_MAX (24 + 2 * BBS_CSUM_MAX)
size_t bbs_csum_line(char *buf, uint64_t offset, const uint8_t *csum, size_t size);

#endif
