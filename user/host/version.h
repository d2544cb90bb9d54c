/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which bbscope this is: the release version (the Makefile's VERSION, the
 * .deb's version) and the commit it was built from (git describe; "unknown"
 * outside a git checkout, "-dirty" with uncommitted changes).  Only
 * user/host/version.c is rebuilt when they change.
 */
#ifndef BBS_VERSION_H
#define BBS_VERSION_H

extern const char bbs_version[];
extern const char bbs_commit[];

#endif
