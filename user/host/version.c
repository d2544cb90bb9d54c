// SPDX-License-Identifier: GPL-2.0
/* The version and commit, from the Makefile (-DBBS_VERSION, -DBBS_COMMIT). */
#include "host/version.h"

#ifndef BBS_VERSION
#define BBS_VERSION "0.0.0"
#endif
#ifndef BBS_COMMIT
#define BBS_COMMIT "unknown"
#endif

const char bbs_version[] = BBS_VERSION;
const char bbs_commit[] = BBS_COMMIT;
