// SPDX-License-Identifier: GPL-2.0
/* System strings in JSON, every byte kept (host/jsonstr.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/jsonstr.h"

#define RAW_SUFFIX "_raw"

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0 when there is none. */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing above U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

bool bbs_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t n; *p; p += n) {
		n = utf8_seq(p);
		if (!n)
			return false;
	}
	return true;
}

char *bbs_utf8_lossy(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	/* U+FFFD is three bytes for one. */
	char *out = malloc(3 * strlen(s) + 1), *q = out;

	if (!out)
		return NULL;
	while (*p) {
		size_t n = utf8_seq(p);

		if (n) {
			memcpy(q, p, n);
			q += n;
			p += n;
		} else {
			memcpy(q, "\xef\xbf\xbd", 3);
			q += 3;
			p++;
		}
	}
	*q = 0;
	return out;
}

/* Every byte outside printable ASCII, and '\', as \xHH. */
static char *escape_bytes(const char *s)
{
	char *out = malloc(4 * strlen(s) + 1), *q = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			*q++ = *p;
		else
			q += sprintf(q, "\\x%02x", *p);
	}
	*q = 0;
	return out;
}

json_t *bbs_json_str(const char *s)
{
	json_t *j;
	char *text;

	if (!s)
		return json_null();
	if (bbs_utf8_valid(s))
		return json_string(s);
	text = bbs_utf8_lossy(s);
	j = text ? json_string(text) : NULL;
	free(text);
	return j;
}

int bbs_json_set_str(json_t *obj, const char *key, const char *s)
{
	char raw_key[256], *raw;
	int ret;

	if (snprintf(raw_key, sizeof(raw_key), "%s" RAW_SUFFIX, key) >= (int)sizeof(raw_key) ||
	    json_object_set_new(obj, key, bbs_json_str(s)))
		return -1;
	if (!s || bbs_utf8_valid(s)) {
		json_object_del(obj, raw_key);
		return 0;
	}
	raw = escape_bytes(s);
	ret = raw ? json_object_set_new(obj, raw_key, json_string(raw)) : -1;
	free(raw);
	return ret;
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo escape_bytes(); anything else is taken as it is. */
static int unescape(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s; n++) {
		if (n + 1 >= len)
			return -1;
		if (s[0] == '\\' && s[1] == 'x' && hex(s[2]) >= 0 && hex(s[3]) >= 0) {
			buf[n] = (char)(hex(s[2]) << 4 | hex(s[3]));
			s += 4;
		} else {
			buf[n] = *s++;
		}
	}
	buf[n] = 0;
	return 0;
}

int bbs_json_get_str(const json_t *obj, const char *key, char *buf, size_t len)
{
	char raw_key[256];
	const char *s;

	if (snprintf(raw_key, sizeof(raw_key), "%s" RAW_SUFFIX, key) >= (int)sizeof(raw_key))
		return -1;
	s = json_string_value(json_object_get(obj, raw_key));
	if (s)
		return unescape(s, buf, len);
	s = json_string_value(json_object_get(obj, key));
	if (!s || strlen(s) >= len)
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

double bbs_json_num(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}
