#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# report --html and bench --html write one self-contained page that headless
# Chromium renders: every chart is an <svg> with its id and <title>, its
# marks (bars, heatmap cells) are drawn with a non-zero size, nothing is
# fetched from anywhere, and no temporary file is left beside the page.
. "$(dirname "$0")/lib.sh"
need_root
command -v chromium >/dev/null || skip "chromium missing (Debian package chromium)"
command -v fio >/dev/null || skip "fio missing (Debian package fio)"

CHROME_DIR=$T_TMP/chromium
chromium_run() {
	rm -rf "$CHROME_DIR"
	timeout 120 chromium --headless --no-sandbox --disable-gpu \
		--disable-background-networking --disable-component-update --disable-sync \
		--no-first-run --user-data-dir="$CHROME_DIR" --allow-file-access-from-files \
		"$@" 2>/dev/null
}

# charts PAGE: one line per <svg id>: "ID WxH MARKS TITLE", as Chromium lays
# the page out (a wrapper page measures it; the page itself has no script).
charts() {
	cat >"$T_TMP/wrap.html" <<EOF
<html><body><iframe id="f" src="file://$1" style="width:1300px;height:8000px"></iframe>
<pre id="out">not loaded</pre>
<script>
document.getElementById('f').onload = function () {
	var d = this.contentDocument, out = [];
	d.querySelectorAll('svg[id]').forEach(function (s) {
		var r = s.getBoundingClientRect(), drawn = 0, t = s.querySelector('title');
		s.querySelectorAll('.mark').forEach(function (m) {
			var b = m.getBBox();
			if (b.width > 0 && b.height > 0)
				drawn++;
		});
		out.push(s.id + ' ' + Math.round(r.width) + 'x' + Math.round(r.height) + ' ' +
			 drawn + ' ' + (t ? t.textContent : '-'));
	});
	document.getElementById('out').textContent = out.join('\n');
};
</script></body></html>
EOF
	chromium_run --virtual-time-budget=10000 --dump-dom "file://$T_TMP/wrap.html" |
		sed -n '/<pre id="out">/,/<\/pre>/p' | sed -e 's/<[^>]*>//g' -e '/^$/d'
}

# chart LIST ID-REGEX TITLE-REGEX: a drawn chart with such an id and title.
chart() {
	local list=$1 id=$2 title=$3
	check "chart $id ($title) drawn" awk -v id="^$id\$" -v t="$title" '
		$1 ~ id && $2 !~ /^0x|x0$/ && $3 > 0 { line = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", line)
			if (line ~ t) found = 1 }
		END { exit !found }' "$list"
}

self_contained() {
	local page=$1
	check "$page: no script, stylesheet link or image" bash -c \
		"! grep -Eiq '<script|<link|<img|<iframe|@import|url\\(' '$page'"
	# the only URL in the page is the SVG namespace
	check "$page: no URL but the SVG namespace" bash -c \
		"! grep -Eo '(https?|ftp)://[^\"<> ]+' '$page' | grep -qv '^http://www.w3.org/2000/svg\$'"
	check "$page: no temporary file left beside it" bash -c "! ls '$page'.* 2>/dev/null"
}

# ---- report --html ----
sandbox_up --profile single --csum sha256
"$BBSCOPE" record -o "$T_TMP/t.trace" --fs "$MNT" -- fio --name=w --filename="$MNT/f" \
	--rw=write --bs=128k --size=32M --ioengine=psync --sync_file_range=write:16 \
	--end_fsync=1 --output=/dev/null >/dev/null 2>"$T_TMP/rec.err" ||
	{ cat "$T_TMP/rec.err"; fail "record"; }
"$BBSCOPE" report --html "$T_TMP/report.html" "$T_TMP/t.trace" >"$T_TMP/r.out" 2>&1 ||
	{ cat "$T_TMP/r.out"; fail "report --html"; }
check "report --html prints no text report" test ! -s "$T_TMP/r.out"
check "the page is there" test -s "$T_TMP/report.html"
self_contained "$T_TMP/report.html"
charts "$T_TMP/report.html" >"$T_TMP/report.charts"
sed 's/^/    /' "$T_TMP/report.charts" | head -40
chart "$T_TMP/report.charts" 'report-hist-loop[0-9]+-write-data-device' 'write data: device'
chart "$T_TMP/report.charts" 'report-hist-loop[0-9]+-write-data-total' 'write data: total'
chart "$T_TMP/report.charts" 'report-hist-loop[0-9]+-write-data-hop' 'write data: hop'
chart "$T_TMP/report.charts" 'report-hist-fs-[a-z0-9-]+-write-data-csum' '[(]filesystem[)] write data: csum'
chart "$T_TMP/report.charts" 'report-heatmap-write' 'write bios: latency over time'
"$BBSCOPE" report --html "$T_TMP/x.html" --events "$T_TMP/t.trace" >/dev/null 2>&1
check "--html with --events is bad usage (2)" test $? -eq 2

# ---- bench --html ----
export TMPDIR=$T_TMP
"$BBSCOPE" bench --size 32M --rounds 1 --html "$T_TMP/bench.html" >"$T_TMP/b.out" \
	2>"$T_TMP/b.err" || { cat "$T_TMP/b.err"; fail "bench --html"; }
check "bench says where the page is" grep -q "wrote $T_TMP/bench.html" "$T_TMP/b.err"
self_contained "$T_TMP/bench.html"
charts "$T_TMP/bench.html" >"$T_TMP/bench.charts"
sed 's/^/    /' "$T_TMP/bench.charts" | head -20
chart "$T_TMP/bench.charts" throughput 'throughput'
chart "$T_TMP/bench.charts" latency 'p50 and p99'
chart "$T_TMP/bench.charts" model-inputs 'model inputs'
chart "$T_TMP/bench.charts" model-throughput 'model and measurement'
chart "$T_TMP/bench.charts" model-speedup 'speedup'
for m in none serial async offload; do
	chart "$T_TMP/bench.charts" "replay-$m-device" "replay $m: device"
done
chart "$T_TMP/bench.charts" replay-async-csum 'replay async: csum'
chart "$T_TMP/bench.charts" 'kernel-hist-loop[0-9]+-write-data-device' 'write data: device'
chart "$T_TMP/bench.charts" kernel-heatmap-write 'latency over time'
check "throughput chart has a bar per row (5)" \
	awk '$1 == "throughput" && $3 == 5 { f = 1 } END { exit !f }' "$T_TMP/bench.charts"

# A screenshot: the page renders to pixels, not to a blank page.
chromium_run --hide-scrollbars --window-size=1300,2400 --screenshot="$T_TMP/bench.png" \
	"file://$T_TMP/bench.html" >/dev/null
check "screenshot written" test -s "$T_TMP/bench.png"
size=$(stat -c %s "$T_TMP/bench.png")
check "screenshot is not blank ($size bytes)" test "$size" -gt 50000
# --by comm,fs: headings name the comm, never "* * *" (issue 19, item 9).
"$BBSCOPE" report --by comm,fs --html "$T_TMP/by.html" "$PWD/tests/fuzz/real-dd.bbt" 2>/dev/null ||
	fail "report --by comm,fs --html"
check "--by comm,fs: a heading names dd" grep -qE '<h2>[^<]* dd</h2>' "$T_TMP/by.html"
check "--by comm,fs: no '* * *' heading" eval '! grep -q "<h2>[* ]*</h2>" "$T_TMP/by.html"'
# The phases with no device (ordered extents) are headed by their
# filesystem, as the text report heads them, not by "filesystem" alone,
# and say they are not split by process.
check "--by comm,fs: the filesystem-level heading names the filesystem" \
	grep -qF '<h2>/tmp/rec-state/mnt (filesystem), every process</h2>' "$T_TMP/by.html"
"$BBSCOPE" report --html "$T_TMP/fs.html" "$PWD/tests/fuzz/real-dd.bbt" 2>/dev/null ||
	fail "report --html real-dd.bbt"
check "the filesystem-level heading names the filesystem" \
	grep -qF '<h2>/tmp/rec-state/mnt (filesystem) write data</h2>' "$T_TMP/fs.html"
exit 0
