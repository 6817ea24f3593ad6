#!/usr/bin/env bash
# bench/stored.sh [ROWS] [SECONDS] [ROUNDS]: station enrollments per second
# and the workers' memory with ROWS certificates already stored (default
# 1,000,000) against an empty store, in the same run. Not a test; ctest
# never runs it.
#
# Two data directories under /tmp: "empty" (fresh from init) and "full",
# which bench_fill fills, the server stopped, with ROWS synthetic
# issuances through the store API in transactions of 20,000: per device a
# certificate row (the DER of a real certificate of that CA under its own
# random serial, valid for a year), the device bound, and its hash-chained
# "issue" audit entry, as an enrollment writes them. Then ROUNDS times
# (default 2), alternating so that the machine's load falls on both alike:
# `tessera serve` (2 workers) on one directory, bench_est --mode station
# with 2 keep-alive connections for SECONDS (default 10), and each
# worker's VmRSS and VmHWM from /proc after the run.
rows=${1:-1000000}
secs=${2:-10}
rounds=${3:-2}
. "$(dirname "$0")/lib.sh"
BENCH=$build/bench_est
P1=$(free_port)
P2=$(free_port "$P1")

setup() { # DIR
	"$TESSERA" init --data "$1" --name "Stored Bench" >/dev/null 2>&1
	no_rate_limits "$1"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/station.key" -subj /CN=station-1 \
		-out "$1/station.csr" 2>/dev/null
	"$TESSERA" issue --data "$1" --csr "$1/station.csr" --profile station \
		--out "$1/station.pem" >/dev/null 2>&1
}
echo "== setup: empty and full data directories under $W"
setup "$W/empty"
setup "$W/full"
echo "== bench_fill: $rows issuances into $W/full/tessera.db"
"$build/bench_fill" "$W/full/tessera.db" "$rows" "$W/full/station.pem"
echo "   $(sqlite3 "$W/full/tessera.db" 'SELECT count(*) FROM certificates') certificate rows," \
	"$(du -m "$W/full/tessera.db" | cut -f1) MB"

# The workers of the serve running now: its children but the signer.
workers() {
	local pid
	for pid in $(pgrep -P "$SERVE"); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tessera-signer ] ||
			echo "$pid"
	done
}
kb() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$2/status"; }

declare -A rate rss hwm
run() { # NAME ROUND
	local d=$W/$1 out pid r="" h=""
	serve_start "$d" "$P1" "$P2" 2
	out=$("$BENCH" --connect "127.0.0.1:$P1" --name localhost \
		--cafile "$d/ca/chain.pem" --cert "$d/station.pem" \
		--key "$d/station.key" --mode station --threads 2 \
		--pool $((secs * 450)) --prefix "$1-$2" --seconds "$secs" 2>/dev/null)
	for pid in $(workers); do
		r="$r $(($(kb VmRSS "$pid") / 1024))"
		h="$h $(($(kb VmHWM "$pid") / 1024))"
	done
	serve_stop
	echo "   $1 round $2: $out; workers' VmRSS MB:$r (peak:$h) [$(uptime | sed 's/.*load/load/')]"
	grep -q ' failed=0 ' <<<"$out" ||
		echo "   WARNING: some enrollments failed"
	rate[$1]="${rate[$1]:-} $(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")"
	rss[$1]="${rss[$1]:-}$r"
	hwm[$1]="${hwm[$1]:-}$h"
}
for round in $(seq 1 "$rounds"); do
	echo "== round $round ($secs s each)"
	run empty "$round"
	run full "$round"
done

mean() { tr ' ' '\n' | awk 'NF { s += $1; n++ } END { printf "%.1f", n ? s / n : 0 }'; }
max() { tr ' ' '\n' | awk 'NF && $1 > m { m = $1 } END { print m + 0 }'; }
e=$(mean <<<"${rate[empty]}")
f=$(mean <<<"${rate[full]}")
echo
echo "Station enrollments per second (2 keep-alive connections, 2 workers,"
echo "$(nproc) cores shared with the load generator), mean of $rounds runs each:"
printf '%-34s %10s %16s %16s\n' store 'enroll/s' 'worker RSS MB' 'worker peak MB'
printf '%-34s %10s %16s %16s\n' "empty" "$e" "$(max <<<"${rss[empty]}")" "$(max <<<"${hwm[empty]}")"
printf '%-34s %10s %16s %16s\n' "$rows certificates stored" "$f" "$(max <<<"${rss[full]}")" "$(max <<<"${hwm[full]}")"
echo "full / empty: $(awk -v a="$f" -v b="$e" 'BEGIN { printf "%.2f", a / b }')"
