# Shared by the bench scripts (sourced, not run): the build
# (TESSERA_BUILD_DIR, default build/), a scratch directory removed at exit,
# free ports, and `tessera serve` started and stopped. A script may define
# bench_stop to stop its own processes at exit.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TESSERA_BUILD_DIR:-$top/build}
"$top/scripts/build" "$build" >/dev/null
TESSERA=$build/tessera
W=$(mktemp -d /tmp/tessera-bench-XXXXXX)
SERVE=

serve_stop() {
	if [ -n "$SERVE" ]; then
		kill -TERM "$SERVE" 2>/dev/null || true
		wait "$SERVE" 2>/dev/null || true
	fi
	SERVE=
}
bench_cleanup() {
	if declare -F bench_stop >/dev/null; then bench_stop; fi
	serve_stop
	rm -rf "$W"
}
trap bench_cleanup EXIT

# free_port [TAKEN...]: a TCP port in 20000-32767 nothing listens on.
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12768))
		case " $* " in *" $p "*) continue ;; esac
		[ -z "$(ss -ltnH "sport = :$p" 2>/dev/null)" ] && {
			echo "$p"
			return 0
		}
	done
	return 1
}

# serve_start DATA TLSPORT PUBPORT WORKERS: tessera serve in the
# background (logs in $W/serve.out, $W/serve.err), back when it serves. A
# worker that fails to open the token at startup stops the whole server
# (seen intermittently with SoftHSMv2: "cannot list slots"), so it tries
# up to five times.
serve_start() {
	local attempt i
	for attempt in 1 2 3 4 5; do
		: >"$W/serve.err"
		"$TESSERA" serve --data "$1" --listen "127.0.0.1:$2" \
			--publish "127.0.0.1:$3" --workers "$4" \
			>"$W/serve.out" 2>"$W/serve.err" &
		SERVE=$!
		for i in $(seq 1 300); do
			grep -q "serving https://127.0.0.1:$2 " "$W/serve.err" &&
				return 0
			kill -0 "$SERVE" 2>/dev/null || break
			sleep 0.1
		done
		serve_stop
		echo "tessera serve failed to start (attempt $attempt):" >&2
		grep -v ' info: ' "$W/serve.err" | sed 's/^/    /' >&2
		sleep 0.5
	done
	return 1
}

# commit_groups PUBPORT: "JOBS COMMITS" so far, the store's commits of all
# the workers and the jobs they held (tessera_store_commit_group_size on
# /metrics): their difference over a run says how many writes each fsync
# carried.
commit_groups() {
	curl -s "http://127.0.0.1:$1/metrics" | awk '
		/^tessera_store_commit_group_size_sum / { s = $2 }
		/^tessera_store_commit_group_size_count / { c = $2 }
		END { print s + 0, c + 0 }'
}

# per_commit "JOBS COMMITS" "JOBS COMMITS": jobs per commit between them.
per_commit() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
		c = y[2] - x[2]; printf "%.2f", (c > 0 ? (y[1] - x[1]) / c : 0) }'
}

# no_rate_limits DATA: turn the per-address limits off in DATA's policy; a
# benchmark sends everything from one address.
no_rate_limits() {
	python3 -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["rate_limits"] = {"enroll": {"per_second": 0}, "token": {"per_second": 0},
                    "ocsp": {"per_second": 0}}
json.dump(j, open(p, "w"), indent=2)' "$1/policy.json"
}
