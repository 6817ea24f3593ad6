#!/usr/bin/env bash
# bench/profile.sh BENCH [SECONDS]: runs bench/BENCH.sh SECONDS (est, token,
# ocsp, ...) and records `perf record -g` of every process of the
# `tessera serve` it starts (supervisor, workers, signer) for the whole
# run, then prints the top of the profile by symbol (self time) and by
# shared object. Not a test; ctest never runs it. The raw data stays in
# $PERF_DATA (default /tmp/tessera-BENCH.perf.data) for `perf report`.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${1:?usage: bench/profile.sh BENCH [SECONDS]}
secs=${2:-10}
data=${PERF_DATA:-/tmp/tessera-$bench.perf.data}
build=${TESSERA_BUILD_DIR:-$top/build}
log=$(mktemp /tmp/tessera-profile-XXXXXX)
perf_pid=
cleanup() {
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null || true
	rm -f "$log"
}
trap cleanup EXIT

bash "$top/bench/$bench.sh" "$secs" >"$log" 2>&1 &
bench_pid=$!
# The serve process tree appears once the bench has built and set up.
pids=
for _ in $(seq 1 1200); do
	# The supervisor and the children it forked (same command line).
	all=$(pgrep -d, -f "^$build/tessera serve --data /tmp/tessera-bench-" || true)
	case $all in
	*,*)
		sleep 0.5 # let every child start, then take them all
		pids=$(pgrep -d, -f "^$build/tessera serve --data /tmp/tessera-bench-")
		break
		;;
	esac
	kill -0 "$bench_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$pids" ] || {
	cat "$log"
	echo "profile: no tessera serve appeared" >&2
	exit 1
}
perf record -q -g -o "$data" -p "$pids" >/dev/null 2>&1 &
perf_pid=$!
wait "$bench_pid" || true
kill -INT "$perf_pid" 2>/dev/null || true
wait "$perf_pid" 2>/dev/null || true
perf_pid=
cat "$log"
echo
echo "== perf: tessera serve processes $pids, self time by symbol"
perf report -i "$data" --no-children --sort sym --stdio -g none 2>/dev/null |
	grep -v '^#' | grep '%' | head -25 || true
echo
echo "== perf: self time by shared object"
perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null |
	grep -v '^#' | grep '%' | head -12 || true
