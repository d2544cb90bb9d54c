#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The layering of user/ (docs/design.md, "Where things live"), checked on
# every #include: a directory may include only what sits beside or below it.
#
#   cli/                        commands: may include anything below
#   trace/ replay/ verify/ bench/ diff/   engines: themselves, out/, host/, btrfs/
#   out/                        output formats: out/, host/, btrfs/
#   host/                       the machine: host/, btrfs/
#   btrfs/                      the btrfs model: btrfs/ only
#
# trace/tracefile.h, the recording's format, may be read by every layer
# above btrfs/ (replay's workloads, bench's timing and out/'s heatmaps read
# traces), as include/bbscope.h may.  Nothing but cli/ includes cli/.
# Prints each include that breaks a rule; exits 1 if any does.
cd "$(dirname "$0")/.." || exit 1

allowed() { # DIR: the directories DIR's files may include
	case $1 in
	cli) echo "cli trace replay verify bench diff out host btrfs" ;;
	trace | replay | verify | bench | diff) echo "$1 out host btrfs" ;;
	out) echo "out host btrfs" ;;
	host) echo "host btrfs" ;;
	btrfs) echo "btrfs" ;;
	esac
}

bad=0
for f in user/*/*.[ch]; do
	dir=${f#user/}
	dir=${dir%%/*}
	ok=" $(allowed "$dir") "
	while IFS= read -r inc; do
		[ "$inc" = trace/tracefile.h ] && [ "$dir" != btrfs ] && continue
		case "$ok" in *" ${inc%%/*} "*) continue ;; esac
		echo "$f: includes \"$inc\": $dir/ may include only$ok"
		bad=1
	done < <(sed -n 's/^#include "\([a-z]*\/[^"]*\)"/\1/p' "$f")
done
exit $bad
