/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Strings from the system in JSON: mount points, paths, device names,
 * comms, workqueues, host and command names.  On Linux these are bytes;
 * JSON strings are Unicode, and jansson refuses a string that is not valid
 * UTF-8 (json_string() and json_pack() return NULL, and the object or the
 * array element holding it silently goes missing).  Every such string goes
 * through here instead (docs/json.md, "Strings"):
 *
 *   KEY       the text: the bytes when they are valid UTF-8, else each byte
 *             that is not part of a valid UTF-8 sequence replaced by U+FFFD
 *   KEY_raw   only when KEY had to be changed: the exact bytes, with every
 *             byte outside printable ASCII, and the backslash, written as
 *             \xHH (so "/tmp/b\xff")
 *
 * bbs_json_get_str() reads them back byte for byte (the state files).
 */
#ifndef BBS_HOST_JSONSTR_H
#define BBS_HOST_JSONSTR_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* Whether s is valid UTF-8 (a NUL ends it). */
bool bbs_utf8_valid(const char *s);
/* s with U+FFFD for each byte that is not valid UTF-8, NUL-terminated; malloc'd, NULL on ENOMEM. */
char *bbs_utf8_lossy(const char *s);

/* A JSON string of s's text (above); never fails but for ENOMEM (NULL). A NULL s gives null. */
json_t *bbs_json_str(const char *s);
/*
 * obj[key] = the text of s, and obj[key_raw] = the escaped bytes when s is
 * not UTF-8; a NULL s sets null.  0, or -1 on ENOMEM (or a key too long).
 */
int bbs_json_set_str(json_t *obj, const char *key, const char *s);
/*
 * The bytes of obj[key]: decoded from key_raw when present, else the
 * string itself.  0, or -1 when missing, not a string, or longer than len - 1.
 */
int bbs_json_get_str(const json_t *obj, const char *key, char *buf, size_t len);
/* The number obj[key], or NaN when missing or not a number. */
double bbs_json_num(const json_t *obj, const char *key);

#endif
