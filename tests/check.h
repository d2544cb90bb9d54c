/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C unit tests' one assertion: CHECK(cond, fmt, ...) prints where and
 * why on failure and counts it; main() returns failures ? 1 : 0.
 */
#ifndef BBS_TEST_CHECK_H
#define BBS_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                            \
	do {                                                        \
		if (!(cond)) {                                      \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__);                        \
			printf("\n");                               \
			failures++;                                 \
		}                                                   \
	} while (0)

#endif
