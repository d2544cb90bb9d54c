#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope replay parity on real targets, checked from the outside: a checker
# (Python, sharing no code with bbscope) reads the targets back, lays them out
# as a btrfs raid56 chunk (strip j of full stripe f on target (f + j) mod N at
# f * 64 KiB) and recomputes P (xor) and Q (GF(2^8)/0x11d, generator 2) of
# every full stripe.
#
#   - every mode (step, batched, threads) on raid5 (3 targets) and raid6 (4),
#     on files and on loop devices: after a full-stripe write the parity on
#     the targets is the parity of the data read back, and the data is the
#     replay's data pool at its logical offsets;
#   - sub-stripe writes (4 KiB, and 12 KiB ones that cross strip and stripe
#     boundaries) with new data: parity stays consistent, the new data
#     landed, every other data sector is unchanged (the rmw read it);
#   - --degraded: the strips rebuilt for the missing targets (one for raid5,
#     one and two for raid6) equal the missing targets' contents;
#   - refusals: mounted, signature without --force, duplicate targets, too few
#     targets for the profile, too small, an existing file; one line, and one
#     JSON error object with --json; nothing written;
#   - the JSON keys;
#   - --trace of a recording on a raid5 btrfs (3 devices): the replay's bytes
#     are the recording's data strip writes (P left out, read from the file
#     by the checker); parity is consistent; each write's data is in the full
#     stripe and data strip it wrote and nothing else was written; raid6 on 4
#     targets (the same 2 data strips) replays it too; another width and a
#     recording without strip writes (single profile) are refused; replay
#     csum --trace still replays the device bios.
. "$(dirname "$0")/lib.sh"
need_root
command -v jq >/dev/null || skip "needs jq"
command -v python3 >/dev/null || skip "needs python3 (the independent parity checker)"
command -v mkfs.btrfs >/dev/null || skip "needs mkfs.btrfs (btrfs-progs)"

SIZE=$((8 << 20)) # 64 full stripes of 128 KiB on raid5/3 and raid6/4
FULL="size=8M,bs=1M,pattern=seq"
STRIPES=64

cat >"$T_TMP/check.py" <<'EOF'
# The checker: python3 check.py CMD ARGS (see each command).
import sys

S = 65536
SEC = 4096


def load(paths, nstripes):
    out = []
    for p in paths:
        with open(p, 'rb') as f:
            b = f.read(nstripes * S)
        if len(b) != nstripes * S:
            sys.exit(f'{p}: {len(b)} bytes, want {nstripes * S}')
        out.append(b)
    return out


def geometry(profile, paths):
    n = len(paths)
    npar = 1 if profile == 'raid5' else 2
    return n, n - npar, npar


def strips(tg, n, f):
    return [tg[(f + j) % n][f * S:(f + 1) * S] for j in range(n)]


M7F = int.from_bytes(b'\x7f' * S, 'big')
M01 = int.from_bytes(b'\x01' * S, 'big')


def mul2(x):
    # Times {02} in every byte lane of x: shift, reduce by 0x1d where bit 7 fell out.
    return ((x & M7F) << 1) ^ (((x >> 7) & M01) * 0x1d)


def cmd_parity(profile, nstripes, paths):
    """every full stripe's P (and Q) is the parity of its data"""
    paths = paths.split(',')
    n, nd, npar = geometry(profile, paths)
    tg = load(paths, int(nstripes))
    for f in range(int(nstripes)):
        st = strips(tg, n, f)
        d = [int.from_bytes(x, 'big') for x in st[:nd]]
        p = 0
        for x in d:
            p ^= x
        if p != int.from_bytes(st[nd], 'big'):
            sys.exit(f'full stripe {f}: P on target {(f + nd) % n} is not the xor of the data')
        if npar == 2:
            q = d[-1]
            for x in reversed(d[:-1]):
                q = mul2(q) ^ x
            if q != int.from_bytes(st[nd + 1], 'big'):
                sys.exit(f'full stripe {f}: Q on target {(f + nd + 1) % n} is wrong')
    print(f'{nstripes} full stripes consistent')


def cmd_data(profile, nstripes, paths, out):
    """write the chunk's data address space (the data strips in order) to out"""
    paths = paths.split(',')
    n, nd, _ = geometry(profile, paths)
    tg = load(paths, int(nstripes))
    with open(out, 'wb') as f:
        for s in range(int(nstripes)):
            f.write(b''.join(strips(tg, n, s)[:nd]))


def cmd_pool(data, seed):
    """the data is bbscope's pool: splitmix64(seed) words, period = its length"""
    with open(data, 'rb') as f:
        b = f.read()
    state, mask = int(seed), (1 << 64) - 1
    words = []
    for _ in range(len(b) // 8):
        state = (state + 0x9e3779b97f4a7c15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & mask
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & mask
        words.append(z ^ (z >> 31))
    want = b''.join(w.to_bytes(8, 'little') for w in words)
    if want != b:
        i = next(i for i in range(len(b)) if want[i] != b[i])
        sys.exit(f'data byte {i} is not the pool byte')
    print(f'{len(b)} data bytes are the pool')


def cmd_rmw(before, after, changed):
    """sectors below changed differ, all the others are unchanged"""
    a = open(before, 'rb').read()
    b = open(after, 'rb').read()
    changed = int(changed)
    for off in range(0, len(a), SEC):
        same = a[off:off + SEC] == b[off:off + SEC]
        if off < changed and same:
            sys.exit(f'data sector at {off} was to be rewritten but is unchanged')
        if off >= changed and not same:
            sys.exit(f'data sector at {off} changed: the rmw clobbered it')
    print(f'{changed // SEC} sectors rewritten, {(len(a) - changed) // SEC} kept')


def cmd_rebuilt(profile, nstripes, paths, missing, prefix):
    """the strips rebuilt for each missing target are its contents; count them"""
    paths = paths.split(',')
    n, nd, _ = geometry(profile, paths)
    tg = load(paths, int(nstripes))
    missing = [int(m) for m in missing.split(',')]
    total = data = 0
    for m in missing:
        reb = open(f'{prefix}.{m}', 'rb').read()
        for f in range(int(nstripes)):
            j = (m - f) % n
            # Rebuilt: every strip of a full stripe whose data on a missing target was read.
            need = any((mm - f) % n < nd for mm in missing)
            data += j < nd
            got = reb[f * S:(f + 1) * S]
            if not need:
                if any(got):
                    sys.exit(f'target {m} full stripe {f}: rebuilt though no data was missing')
                continue
            if got != tg[m][f * S:(f + 1) * S]:
                sys.exit(f'target {m} full stripe {f} (strip {j}): rebuilt bytes differ')
            total += 1
    print(total, data)


def trace_strips(path):
    """the stripe records of a bbscope trace (docs/format.md), as dicts"""
    import struct
    rec_len = {1: 48, 2: 72, 3: 16, 4: 24, 5: 48}
    b = open(path, 'rb').read()
    if b[:8] != b'BBSTRACE':
        sys.exit(f'{path}: not a bbscope trace')
    pos, out = 16, []
    while pos + 16 <= len(b):
        typ, _, ln, _ = struct.unpack_from('<IIII', b, pos)
        p = b[pos + 16:pos + 16 + ln]
        pos += 16 + ln
        i = 0
        while typ == 3 and i < len(p):
            if p[i] == 5:
                ln_, off = struct.unpack_from('<II', p, i + 12)
                out.append(dict(op=p[i + 1], kind=p[i + 2], nr=p[i + 3], nd=p[i + 4],
                                rs=p[i + 5], len=ln_, off=off,
                                full=struct.unpack_from('<Q', p, i + 40)[0]))
            i += rec_len[p[i]]
    return out


def data_strips(path):
    """data strip writes (op 1 write, kind 0 data, not P or Q); and all strip writes"""
    s = trace_strips(path)
    w = [x for x in s if x['op'] == 1 and x['kind'] == 0]
    return [x for x in w if x['nr'] < x['nd']], w


def cmd_strips(trace):
    """nr_data, data strip write bytes, P/Q strip write bytes of a recording"""
    d, w = data_strips(trace)
    nds = {x['nd'] for x in d}
    if len(nds) != 1:
        sys.exit(f'data strips per full stripe: {nds}')
    print(nds.pop(), sum(x['len'] for x in d), sum(x['len'] for x in w) - sum(x['len'] for x in d))


def pool_bytes(seed, period, off, n):
    """n bytes of bbscope's pool from offset off: word k is splitmix64's k-th output"""
    mask, g = (1 << 64) - 1, 0x9e3779b97f4a7c15
    out = bytearray()
    for x in range(off - off % 8, off + n, 8):
        z = (seed + (x % period // 8 + 1) * g) & mask
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & mask
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & mask
        out += (z ^ (z >> 31)).to_bytes(8, 'little')
    return bytes(out[off % 8:off % 8 + n])


def cmd_tracedata(profile, nstripes, paths, trace, seed):
    """every data strip write of the recording is on the targets, in the full
    stripe (counted from the lowest) and data strip it wrote, with the pool's
    bytes at that data offset; every other data sector is zeroes"""
    paths = paths.split(',')
    n, nd, _ = geometry(profile, paths)
    tg = load(paths, int(nstripes))
    d, _ = data_strips(trace)
    low, fsb = min(x['full'] for x in d), nd * S
    place = [((x['full'] - low) // fsb * fsb + x['nr'] * S + x['off'], x['len']) for x in d]
    period = min((max(o + ln for o, ln in place) + SEC - 1) // SEC * SEC, 64 << 20)
    space = b''.join(b''.join(strips(tg, n, f)[:nd]) for f in range(int(nstripes)))
    covered = set()
    for o, ln in place:
        if space[o:o + ln] != pool_bytes(int(seed), period, o, ln):
            sys.exit(f'data offset {o} ({ln} bytes): not the pool bytes')
        covered.update(range(o // SEC, (o + ln) // SEC))
    for k in range(len(space) // SEC):
        if k not in covered and any(space[k * SEC:(k + 1) * SEC]):
            sys.exit(f'data sector {k} was not written by the recording but is not zero')
    print(f'{len(place)} strip writes, {len(covered)} sectors in place')


globals()['cmd_' + sys.argv[1]](*sys.argv[2:])
EOF
chk() { python3 "$T_TMP/check.py" "$@"; }

# new_loop VAR SIZE: a loop device on a fresh file in $T_TMP, detached at exit.
new_loop() {
	local img=$T_TMP/$1.img dev
	truncate -s "$2" "$img" || fail "truncate $img"
	dev=$(losetup -f --show "$img") || fail "losetup $img"
	at_exit "losetup -d $dev"
	printf -v "$1" '%s' "$dev"
}

# replay ARGS...: 'bbscope replay parity ARGS', stdout to $T_TMP/out, stderr to $T_TMP/err.
replay() {
	"$BBSCOPE" replay parity "$@" >"$T_TMP/out" 2>"$T_TMP/err"
}

L=()
for i in 0 1 2 3; do
	new_loop "LOOP$i" 8M
	eval "L+=(\$LOOP$i)"
done
# targets KIND N NAME: N fresh targets of KIND (file, loop), comma-separated.
targets() {
	local kind=$1 n=$2 name=$3 i list=
	for ((i = 0; i < n; i++)); do
		if [ "$kind" = loop ]; then
			dd if=/dev/zero of="${L[i]}" bs=1M count=8 oflag=direct status=none ||
				fail "zero ${L[i]}"
			list+=${list:+,}${L[i]}
		else
			list+=${list:+,}$T_TMP/$name.$i
		fi
	done
	echo "$list"
}

# check_json MODE PROFILE N BYTES FULL PARTIAL PHASE
check_json() {
	jq -e --arg m "$1" --arg p "$2" --argjson n "$3" --argjson bytes "$4" --argjson full "$5" \
		--argjson partial "$6" --arg phase "$7" '
		.mode == $m and .profile == $p and .devices == $n and .bytes == $bytes and
		.elapsed_s > 0 and .throughput_bps > 0 and .cpu_s >= 0 and
		.full_stripes == $full and .partial_stripes == $partial and
		(.raid56[$phase].count == $full + $partial) and
		(.raid56[$phase] | .p50_ns <= .p99_ns and .p99_ns <= .max_ns) and
		([.groups[] | select(.dev != null) | .target_index] | unique | length) == $n and
		all(.groups[] | select(.dev != null);
			.phases.device.count == .bios and .phases.total.count == .bios and
			(if .op == "write" then .stripe_writes == .bios else .stripe_reads == .bios end)) and
		.raid56.stripe_writes == ([.groups[].stripe_writes] | add) and
		(.parity.count > 0)
		' "$T_TMP/out" >/dev/null || { cat "$T_TMP/out"; fail "JSON of $1 $2 lacks keys or counts"; }
}

declare -A TG
# ---- full-stripe writes, then sub-stripe rmw, every mode and profile ----
for profile in raid5 raid6; do
	[ $profile = raid5 ] && n=3 || n=4
	for mode in step batched threads; do
		[ $mode = batched ] && kind=loop || kind=file
		tg=$(targets $kind $n $profile.$mode)
		TG[$profile.$mode]=$tg
		extra=
		[ $mode = threads ] && extra="--threads 2"
		replay --synthetic "$FULL" --profile $profile --devices $n --targets "$tg" \
			--mode $mode $extra --json || { cat "$T_TMP/err"; fail "$profile $mode full"; }
		check_json $mode $profile $n $SIZE $STRIPES 0 rmw
		jq -e --argjson w $((STRIPES * n)) '.raid56.stripe_writes == $w and
			.raid56.stripe_reads == 0' "$T_TMP/out" >/dev/null ||
			fail "$profile $mode full: stripe writes $(jq -c .raid56 "$T_TMP/out")"
		chk parity $profile $STRIPES "$tg" >/dev/null || fail "$profile $mode: parity on the targets"
		ok "$profile $mode on $kind targets: $STRIPES full stripes written, parity checked"
		if [ $profile.$mode = raid6.step ]; then
			chk data $profile $STRIPES "$tg" "$T_TMP/data" || fail "reading the data back"
			chk pool "$T_TMP/data" $((0x62627363)) >/dev/null ||
				fail "the data on the targets is not the replay's data at its offsets"
			ok "raid6 step: the data strips hold the pool bytes at their logical offsets"
		fi

		# Sub-stripe writes of new data (another seed) over the first 512 KiB.
		chk data $profile $STRIPES "$tg" "$T_TMP/before" || fail "reading the data back"
		replay --synthetic size=512K,bs=4K,pattern=rand,seed=5 --profile $profile \
			--targets "$tg" --mode $mode $extra --data-seed 7 --force --json ||
			{ cat "$T_TMP/err"; fail "$profile $mode rmw"; }
		check_json $mode $profile $n $((512 << 10)) 0 128 rmw
		# Each rmw writes 1 data + 1 P (+ 1 Q) sector; it reads the whole full
		# stripe the first time only (4 full stripes), then the stripe cache has it.
		jq -e --argjson r $((4 * n)) --argjson w $((128 * (n == 3 ? 2 : 3))) '
			.raid56.stripe_reads == $r and .raid56.stripe_writes == $w and
			.stripe_cache_hits == 124' "$T_TMP/out" >/dev/null ||
			fail "$profile $mode rmw: $(jq -c '[.raid56, .stripe_cache_hits]' "$T_TMP/out")"
		chk parity $profile $STRIPES "$tg" >/dev/null || fail "$profile $mode rmw: parity"
		chk data $profile $STRIPES "$tg" "$T_TMP/after" || fail "reading the data back"
		chk rmw "$T_TMP/before" "$T_TMP/after" $((512 << 10)) >/dev/null ||
			fail "$profile $mode rmw: $(chk rmw "$T_TMP/before" "$T_TMP/after" $((512 << 10)))"
		ok "$profile $mode: 128 sub-stripe 4 KiB writes, parity consistent, other data kept"
	done
done

# 12 KiB writes cross strip boundaries (two parity runs) and full-stripe ones
# (two rbios); without the stripe cache every one reads its full stripe.
tg=${TG[raid6.batched]}
chk data raid6 $STRIPES "$tg" "$T_TMP/before" || fail "reading the data back"
replay --synthetic size=768K,bs=12K,pattern=rand,seed=9 --profile raid6 --targets "$tg" \
	--mode step --data-seed 11 --stripe-cache 0 --no-plug --force --json ||
	{ cat "$T_TMP/err"; fail "12K rmw"; }
jq -e '.partial_stripes > 64 and .full_stripes == 0 and .stripe_cache_hits == 0 and
	.raid56.stripe_reads == 4 * .partial_stripes' "$T_TMP/out" >/dev/null ||
	fail "12K rmw: $(jq -c '[.full_stripes, .partial_stripes, .raid56]' "$T_TMP/out")"
chk parity raid6 $STRIPES "$tg" >/dev/null || fail "12K rmw: parity"
chk data raid6 $STRIPES "$tg" "$T_TMP/after" || fail "reading the data back"
chk rmw "$T_TMP/before" "$T_TMP/after" $((768 << 10)) >/dev/null || fail "12K rmw: data"
ok "raid6: 12 KiB writes across strip and stripe boundaries keep parity and data"

# ---- degraded reads: rebuilt strips equal the missing targets ----
# Read repair (the default): one recover rbio per sector of a missing data
# strip; --recover-unit stripe: one per full stripe.
for c in raid5:step:1:sector raid5:threads:0:stripe raid6:batched:3:sector \
	raid6:threads:0,2:sector raid6:step:1,3:stripe; do
	IFS=: read -r profile mode missing unit <<<"$c"
	[ $profile = raid5 ] && n=3 || n=4
	tg=${TG[$profile.$mode]}
	replay --synthetic "$FULL" --profile $profile --targets "$tg" --mode $mode \
		--degraded $missing --recover-unit $unit --rebuilt-out "$T_TMP/rebuilt" --force \
		--json || { cat "$T_TMP/err"; fail "$profile $mode degraded $missing"; }
	jq -e '.raid56.recover.count == .recovered_stripes and .recovered_stripes > 0 and
		(.raid56.rmw.observable == false) and .raid56.stripe_writes == 0 and
		.recovered_stripes + .plain_reads == .full_stripes + .partial_stripes' \
		"$T_TMP/out" >/dev/null || { cat "$T_TMP/out"; fail "$profile $mode degraded $missing: JSON"; }
	nm=$(tr ',' ' ' <<<"$missing" | wc -w)
	jq -e --argjson n $((n - nm)) --argjson size $SIZE '
		.bytes == $size and .throughput_bps > 0 and .degraded == ($ARGS.positional) and
		([.groups[] | select(.dev != null) | .target_index] | unique | length) == $n and
		all(.groups[] | select(.dev != null); .op == "read" and
			.phases.device.count == .bios and .stripe_reads <= .bios) and
		.raid56.stripe_reads == .recovered_stripes * ($n)' \
		--jsonargs ${missing//,/ } <"$T_TMP/out" >/dev/null ||
		{ cat "$T_TMP/out"; fail "$profile $mode degraded $missing: device groups"; }
	# No I/O to a missing target.
	for m in ${missing//,/ }; do
		jq -e --argjson m "$m" '[.groups[] | select(.target_index == $m)] | length == 0' \
			"$T_TMP/out" >/dev/null || fail "degraded: I/O to missing target $m"
	done
	read -r got data < <(chk rebuilt $profile $STRIPES "$tg" "$missing" "$T_TMP/rebuilt") ||
		fail "$profile $mode degraded $missing: $got"
	rec=$(jq .recovered_stripes "$T_TMP/out")
	if [ $unit = sector ]; then
		want=$((16 * data)) # every sector of every missing data strip
	else
		# full stripes with a missing data strip (strip (m - f) mod n < nr_data)
		want=$(python3 -c "print(len({f for f in range($STRIPES) for m in [$missing]
			if (m - f) % $n < $n - $((n == 3 ? 1 : 2))}))")
	fi
	[ "$rec" = "$want" ] || fail "$profile $mode degraded $missing: $rec recovers, want $want"
	[ "$got" -gt 0 ] || fail "$profile $mode degraded: no rebuilt strip compared"
	ok "$profile $mode without target(s) $missing: $rec recover rbios ($unit), $got rebuilt strips equal the target"
	rm -f "$T_TMP"/rebuilt.*
done

# Plain text: the tracer's table.
replay --synthetic size=1M,bs=4K,pattern=rand --profile raid5 --targets "${TG[raid5.step]}" \
	--mode batched --force -s || { cat "$T_TMP/err"; fail "plain replay"; }
for p in rmw device total; do
	grep -Eq "^ +$p +[0-9]+ " "$T_TMP/out" || { cat "$T_TMP/out"; fail "no $p row"; }
done
ok "plain output has rmw, device and total rows"

# ---- refusals: nothing written, one line, JSON error with --json ----
marker() { dd if="$1" bs=64K count=1 status=none | md5sum; }

# refused WHAT PATTERN ARGS...
refused() {
	local what=$1 pattern=$2
	shift 2
	if replay "$@"; then
		fail "$what: accepted"
	fi
	[ "$(wc -l <"$T_TMP/err")" = 1 ] || { cat "$T_TMP/err"; fail "$what: not one line"; }
	grep -q -- "$pattern" "$T_TMP/err" ||
		{ cat "$T_TMP/err"; fail "$what: says '$(cat "$T_TMP/err")'"; }
	if replay "$@" --json; then
		fail "$what: accepted with --json"
	fi
	jq -e 'keys == ["error"]' "$T_TMP/out" >/dev/null && [ "$(wc -l <"$T_TMP/out")" = 1 ] ||
		{ cat "$T_TMP/out"; fail "$what: --json output is not one error object"; }
	ok "$what refused: $(cat "$T_TMP/err")"
}

R5="--synthetic size=1M --profile raid5 --mode step"
new_loop BIG 128M # mkfs.btrfs wants 114 MiB
three="${L[0]},$BIG,${L[2]}"
for d in "${L[@]}"; do dd if=/dev/zero of="$d" bs=1M count=8 oflag=direct status=none; done
mkfs.btrfs -q -f "$BIG" >/dev/null || fail "mkfs.btrfs"
before=$(for d in "${L[@]}" "$BIG"; do marker "$d"; done)
refused "btrfs signature" "btrfs signature" $R5 --targets "$three"
mkdir -p "$T_TMP/mnt"
mount "$BIG" "$T_TMP/mnt" || fail "mount btrfs"
at_exit "umount $T_TMP/mnt"
refused "mounted member (even with --force)" "mounted on" $R5 --targets "$three" --force
umount "$T_TMP/mnt" || fail "umount"
refused "duplicate targets" "same target" $R5 --targets "${L[0]},${L[2]},${L[0]}" --force
alias=$T_TMP/alias
mknod "$alias" b $((0x$(stat -c %t "${L[2]}"))) $((0x$(stat -c %T "${L[2]}"))) || fail "mknod"
refused "one device under two names" "same target" $R5 --targets "${L[0]},${L[2]},$alias" --force
refused "duplicate files" "same target" $R5 --targets "$T_TMP/d1,$T_TMP/d2,$T_TMP/../${T_TMP##*/}/d1"
refused "too few targets for raid6" "raid6 needs at least 3" --synthetic size=1M --profile raid6 \
	--mode step --targets "${L[0]},${L[2]}" --force
refused "--devices mismatch" "--devices 4" $R5 --devices 4 --targets "$three" --force
# 8 MiB devices hold 128 strips: 129 full stripes of 128 KiB do not fit.
refused "too-small devices" "too small" --synthetic size=$((129 * 128))K,bs=128K --profile raid5 \
	--mode batched --targets "${L[0]},${L[2]},${L[3]}" --force
echo keep >"$T_TMP/existing"
refused "existing file" "exists" $R5 --targets "$T_TMP/e1,$T_TMP/existing,$T_TMP/e2"
[ "$(cat "$T_TMP/existing")" = keep ] || fail "a refused replay touched the existing file"
[ ! -e "$T_TMP/e1" ] && [ ! -e "$T_TMP/e2" ] && [ ! -e "$T_TMP/d1" ] ||
	fail "a refused replay left files it created"
refused "raid5 with two missing" "raid5 survives one" $R5 --targets "$three" --degraded 0,1
after=$(for d in "${L[@]}" "$BIG"; do marker "$d"; done)
[ "$before" = "$after" ] || fail "a refused replay wrote to a device"
ok "refused replays wrote nothing"

# ---- --trace: a recording's data strip writes, at their data offsets ----
# A raid5 btrfs on 3 devices (2 data strips + P), written with sub-stripe
# (12 KiB, 4 KiB) and full-stripe (1 MiB O_DIRECT) writes; the replay takes
# its data strip writes (not its device bios, not P) into the full stripe
# and data strip each wrote, and computes P itself.
sandbox_up --profile raid5 --size 256M --mount-opts commit=300 --backing-dir "$T_TMP/backing"
sync
"$BBSCOPE" record -o "$T_TMP/r5.bbt" --fs "$MNT" -- sh -c "
	dd if=/dev/urandom of=$MNT/f bs=4K count=3 conv=fsync status=none &&
	dd if=/dev/urandom of=$MNT/f bs=1M count=1 seek=1 oflag=direct conv=notrunc,fsync status=none &&
	dd if=/dev/urandom of=$MNT/f bs=4K count=1 seek=700 conv=notrunc,fsync status=none &&
	dd if=/dev/urandom of=$MNT/f bs=64K count=2 seek=40 conv=notrunc,fsync status=none" \
	2>"$T_TMP/rec.err" || { cat "$T_TMP/rec.err"; fail "record on raid5"; }
read -r nd data pq < <(chk strips "$T_TMP/r5.bbt") || fail "reading the recording's strips"
[ "$nd" = 2 ] && [ "$data" -ge $((12 + 1024 + 4 + 128 << 10)) ] && [ "$pq" -gt 0 ] ||
	fail "the raid5 recording: nr_data $nd, data strip bytes $data, P bytes $pq"
"$BBSCOPE" report --json "$T_TMP/r5.bbt" >"$T_TMP/r5.json" 2>/dev/null || fail "report"
devw=$(jq '[.groups[] | select(.dev != null and .op == "write" and .kind == "data") | .bytes] |
	add' "$T_TMP/r5.json")
tg=$(targets file 3 r5trace)
replay --trace "$T_TMP/r5.bbt" --profile raid5 --targets "$tg" --mode step --json ||
	{ cat "$T_TMP/err"; fail "replay parity --trace"; }
jq -e --argjson data "$data" '.bytes == $data and .nr_data == 2 and .full_stripes > 0 and
	.partial_stripes > 0' "$T_TMP/out" >/dev/null ||
	fail "--trace: $(jq -c '{bytes, nr_data, full_stripes, partial_stripes}' "$T_TMP/out"), want bytes $data"
[ "$devw" -gt "$data" ] || fail "device data writes $devw are not more than the data strips $data"
ok "--trace: $data bytes replayed = the recording's data strip writes (P: $pq more, device bios: $devw)"
ns=$(jq .stripes_spanned "$T_TMP/out")
chk parity raid5 "$ns" "$tg" >/dev/null || fail "--trace: $(chk parity raid5 "$ns" "$tg")"
msg=$(chk tracedata raid5 "$ns" "$tg" "$T_TMP/r5.bbt" $((0x62627363))) ||
	fail "--trace: $msg"
ok "--trace: $ns full stripes consistent; $msg"

# Another profile of the same width: raid6 on 4 targets also has 2 data strips.
tg=$(targets file 4 r6trace)
replay --trace "$T_TMP/r5.bbt" --profile raid6 --targets "$tg" --mode batched --json ||
	{ cat "$T_TMP/err"; fail "replay parity --trace as raid6"; }
jq -e --argjson data "$data" '.bytes == $data' "$T_TMP/out" >/dev/null || fail "raid6 bytes"
chk parity raid6 "$ns" "$tg" >/dev/null || fail "--trace as raid6: parity"
chk tracedata raid6 "$ns" "$tg" "$T_TMP/r5.bbt" $((0x62627363)) >/dev/null ||
	fail "--trace as raid6: data"
ok "--trace: the raid5/3 recording replays as raid6/4 (2 data strips too), P and Q consistent"

# replay csum --trace still takes the device bios, P strips included.
"$BBSCOPE" replay csum --trace "$T_TMP/r5.bbt" --target "$T_TMP/csum.img" --mode serial \
	--json >"$T_TMP/out" 2>"$T_TMP/err" || { cat "$T_TMP/err"; fail "replay csum --trace"; }
jq -e --argjson d "$devw" '.bytes == $d' "$T_TMP/out" >/dev/null ||
	fail "replay csum --trace: $(jq .bytes "$T_TMP/out") bytes, want $devw"
ok "replay csum --trace: the $devw bytes of device data writes, as before"

refused "--trace on another width" "recorded with 2 data strips per full stripe" --trace \
	"$T_TMP/r5.bbt" --profile raid5 --mode step --targets "$T_TMP/w0,$T_TMP/w1,$T_TMP/w2,$T_TMP/w3"
[ ! -e "$T_TMP/w0" ] || fail "a refused --trace replay made a target"
"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"

# A recording on a single-profile btrfs has no strip writes: refused.
sandbox_up --profile single --size 256M --mount-opts commit=300 --backing-dir "$T_TMP/backing1"
"$BBSCOPE" record -o "$T_TMP/single.bbt" --fs "$MNT" -- \
	dd if=/dev/urandom of="$MNT/f" bs=64K count=4 conv=fsync status=none 2>"$T_TMP/rec.err" ||
	{ cat "$T_TMP/rec.err"; fail "record on single"; }
refused "--trace of a single-profile recording" \
	"no raid5/raid6 data strip writes in this recording (record on a raid5 or raid6 filesystem, or use --synthetic)" \
	--trace "$T_TMP/single.bbt" --profile raid5 --mode step --targets "$T_TMP/s0,$T_TMP/s1,$T_TMP/s2"
[ ! -e "$T_TMP/s0" ] || fail "a refused --trace replay made a target"
exit 0
