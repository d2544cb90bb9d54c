#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The layering of user/ (docs/design.md, "Where things live"), checked on
# every #include: a directory may include only itself and what sits below
# it, in this one order, with no exception.
#
#   cli/                                  commands: anything below
#   trace/ replay/ verify/ bench/ diff/ sandbox/   engines: themselves, and below
#   render/                               output formats: text, JSON, Prometheus, HTML, exports
#   tracefile/                            the recording's format: writer, reader
#   model/                                the report, its names, what a bio contributes
#   host/                                 the machine
#   btrfs/                                the btrfs model
#
# An engine includes no other engine; nothing includes cli/.
# Prints each include that breaks a rule; exits 1 if any does.
cd "$(dirname "$0")/.." || exit 1

below="render tracefile model host btrfs"

allowed() { # DIR: the directories DIR's files may include
	local d rest=$below
	case $1 in
	cli) echo "cli trace replay verify bench diff sandbox $below" ;;
	trace | replay | verify | bench | diff | sandbox) echo "$1 $below" ;;
	*)
		for d in $below; do
			[ "$d" = "$1" ] && break
			rest=${rest#"$d "}
		done
		# an unknown directory is not in the order: it may include nothing
		case " $below " in *" $1 "*) echo "$rest" ;; esac
		;;
	esac
}

bad=0
for f in user/*/*.[ch]; do
	dir=${f#user/}
	dir=${dir%%/*}
	ok=" $(allowed "$dir") "
	while IFS= read -r inc; do
		case "$ok" in *" ${inc%%/*} "*) continue ;; esac
		echo "$f: includes \"$inc\": $dir/ may include only$ok"
		bad=1
	done < <(sed -n 's/^#include "\([a-z]*\/[^"]*\)"/\1/p' "$f")
done
exit $bad
