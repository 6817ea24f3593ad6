#!/usr/bin/env bash
# bench/nodes.sh [SECONDS]: EST enrollments per second on one node with
# SQLite, one node with PostgreSQL and two nodes sharing one PostgreSQL
# store, in the same run; then how long after node A acknowledges a
# revocation node B's OCSP answers revoked, over 100 revocations
# (REVOCATIONS=), and for the first 20 (CRL_REVOCATIONS=) how long until
# the CRL node B serves lists it. THREADS= sets the connections (4). Not
# a test; ctest never runs it.
#
# PostgreSQL is started here (tests/integration/pg.sh in a directory of
# its own) with fsync and full_page_writes ON (the test fixture turns them
# off), stopped at the end with every node. Each node: `tessera serve`
# with 2 workers (and its signer) on the same SoftHSMv2 token; the two
# nodes are one data directory copied, as in tests/integration/
# test_pgnodes.sh. The load: bench_est with THREADS connections in all
# (default 4; two nodes get half each, started on one signal so that they
# time the same window), for SECONDS (default 10) per scenario:
#   station     keep-alive TLS, client certificate (a provisioning station)
#   first boot  a new TLS connection per enrollment, a one-time secret
# Everything shares the machine's cores: the nodes, PostgreSQL and the
# load generators. Prints a table and the ratios to one SQLite node.
secs=${1:-10}
threads=${THREADS:-4}
revocations=${REVOCATIONS:-100}
crl_revocations=${CRL_REVOCATIONS:-20}
. "$(dirname "$0")/lib.sh"
BENCH=$build/bench_est
PG() { bash "$top/tests/integration/pg.sh" "$@"; }
PGD=$(mktemp -d /tmp/tessera-benchpg-XXXXXX)
NODES=()
SAMPLERS=()

bench_stop() {
	local p
	for p in "${SAMPLERS[@]}"; do
		pkill -TERM -P "$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${NODES[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	NODES=()
	PG stop "$PGD" >/dev/null 2>&1 || true
}

# node_start NAME DATA TLSPORT PUBPORT: tessera serve (2 workers) in the
# background, logs in $W/NAME.err; back when it serves.
node_start() {
	local i
	"$TESSERA" serve --data "$2" --listen "127.0.0.1:$3" \
		--publish "127.0.0.1:$4" --workers 2 \
		>"$W/$1.out" 2>"$W/$1.err" &
	NODES+=($!)
	for i in $(seq 1 300); do
		grep -q "serving https://127.0.0.1:$3 " "$W/$1.err" && return 0
		kill -0 "${NODES[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "node $1 failed to start:" >&2
	grep -v ' info: ' "$W/$1.err" | sed 's/^/    /' >&2
	return 1
}
# setup NAME [URL]: a data directory $W/NAME (its store in URL when
# given), no rate limits, a station certificate for the load.
setup() {
	"$TESSERA" init --data "$W/$1" --name "Nodes Bench" \
		${2:+--store "$2"} >/dev/null 2>&1
	no_rate_limits "$W/$1"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$W/$1.station.key" -subj /CN=station-1 \
		-out "$W/$1.station.csr" 2>/dev/null
	"$TESSERA" issue --data "$W/$1" --csr "$W/$1.station.csr" \
		--profile station --out "$W/$1.station.pem" >/dev/null 2>&1
}

# cpu_ticks PID...: the CPU time (user + system, in clock ticks) of these
# processes and their children, alive now.
cpu_ticks() {
	local p all=()
	for p in "$@"; do
		all+=("$p")
		all+=($(pgrep -P "$p" || true))
	done
	for p in "${all[@]}"; do
		awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
	done | awk '{ s += $1 } END { print s + 0 }'
}

# probe PUBPORT...: the nodes' store and signer counters summed (from
# /metrics: transactions, their time BEGIN to durable COMMIT, jobs, and
# signatures with their time), the machine's idle and busy CPU ticks, and
# the CPU ticks of the nodes' processes and of PostgreSQL's.
probe() {
	local p
	for p in "$@"; do curl -s --max-time 10 "http://127.0.0.1:$p/metrics"; done |
		awk -v idle="$(awk '/^cpu / { print $5 + $6; exit }' /proc/stat)" \
			-v busy="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat)" \
			-v tes="$(cpu_ticks "${NODES[@]}")" \
			-v pg="$(cpu_ticks "$(head -1 "$PGD/data/postmaster.pid")")" '
		{ split($1, k, "{") }
		k[1] == "tessera_store_commit_duration_seconds_count" { c += $2 }
		k[1] == "tessera_store_commit_duration_seconds_sum" { cs += $2 }
		k[1] == "tessera_store_commit_group_size_sum" { j += $2 }
		k[1] == "tessera_hsm_sign_duration_seconds_count" { sc += $2 }
		k[1] == "tessera_hsm_sign_duration_seconds_sum" { ss += $2 }
		END { printf "%d %.6f %d %d %.6f %d %d %d %d\n", c, cs, j, sc, ss,
			idle, busy, tes, pg }'
}
# explain BEFORE AFTER SECONDS ENROLLMENTS GENCPU: what the counters moved by in
# the window: the store's transactions and the signatures (how many at
# once, on average), and the CPU each enrollment took in the nodes, in
# PostgreSQL (when the store is there) and in everything else on the
# machine (the load generators, the other users of the machine).
explain() {
	awk -v s="$3" -v e="$4" -v g="$5" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" \
		'BEGIN { split(ARGV[1], a, " "); split(ARGV[2], b, " "); ARGC = 1
		c = b[1] - a[1]; cs = b[2] - a[2]; j = b[3] - a[3]
		sc = b[4] - a[4]; ss = b[5] - a[5]; idle = (b[6] - a[6]) / hz
		busy = (b[7] - a[7]) / hz; tes = (b[8] - a[8]) / hz
		pg = (b[9] - a[9]) / hz; gen = g
		printf "   store: %d transactions, %.2f jobs each, %.1f ms each" \
			" (BEGIN to durable COMMIT), %.2f at once on average;" \
			" signatures %.1f ms each, %.2f at once\n",
			c, c ? j / c : 0, c ? cs / c * 1000 : 0, cs / s,
			sc ? ss / sc * 1000 : 0, ss / s
		printf "   CPU: idle %.0f%%; per enrollment: nodes %.2f ms," \
			" PostgreSQL %.2f ms, load generators %.2f ms, the rest of" \
			" the machine %.2f ms\n",
			100 * idle / (s * n), e ? tes / e * 1000 : 0,
			e ? pg / e * 1000 : 0, e ? gen / e * 1000 : 0,
			e ? (busy - tes - pg - gen) / e * 1000 : 0 }' \
		"$1" "$2"
}

declare -A rate
# load SCENARIO MODE DATA TLSPORT:PUBPORT...: bench_est on each node at
# once ($threads connections split between them); the summed rate.
load() {
	local name=$1 mode=$2 d=$3 per pool p i=0 sum out gens=() pubs=() tls=()
	local before after t0 t1
	shift 3
	for p in "$@"; do
		tls+=("${p%%:*}")
		pubs+=("${p##*:}")
	done
	set -- "${tls[@]}"
	per=$((threads / $#))
	[ "$per" -ge 1 ] || per=1
	if [ "$mode" = station ]; then pool=$((secs * 300)); else pool=$((secs * 120)); fi
	rm -f "$W/go"
	for p in "$@"; do
		if [ "$mode" = station ]; then
			cred=(--cert "$W/$d.station.pem" --key "$W/$d.station.key")
		else
			cred=(--cert "$W/$d/admin/admin.pem" --key "$W/$d/admin/admin.key")
		fi
		"$BENCH" --connect "127.0.0.1:$p" --name localhost \
			--cafile "$W/$d/ca/chain.pem" --seconds "$secs" \
			--threads "$per" --pool "$pool" --mode "$mode" \
			--prefix "$name-$i-$RANDOM" "${cred[@]}" --wait "$W/go" \
			>"$W/$name.$i.out" 2>"$W/$name.$i.err" &
		gens+=($!)
		i=$((i + 1))
	done
	# Every generator has its CSRs (and secrets) before the clock starts.
	for i in $(seq 1 1200); do
		[ "$(cat "$W/$name".*.err | grep -c 'bench_est: ready')" = $# ] && break
		sleep 0.1
	done
	before=$(probe "${pubs[@]}")
	# PostgreSQL's lock waits, sampled every 100 ms through the window:
	# the advisory lock is the order lock (audit appends and the feed).
	sampler=
	if [ "$d" != sqlite ]; then
		PG psql "$PGD" -d postgres -tA -f "$W/locks.sql" >"$W/$name.locks" 2>/dev/null &
		sampler=$!
		SAMPLERS+=("$sampler")
	fi
	t0=$(date +%s.%N)
	touch "$W/go"
	wait "${gens[@]}" 2>/dev/null || true
	t1=$(date +%s.%N)
	if [ -n "$sampler" ]; then
		pkill -TERM -P "$sampler" 2>/dev/null || true
		kill -TERM "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
	fi
	after=$(probe "${pubs[@]}")
	sum=0
	for out in "$W/$name".*.out; do
		echo "   $(basename "$out"): $(cat "$out")"
		grep -q ' failed=0 ' "$out" ||
			echo "   WARNING: some enrollments failed ($(tail -2 "${out%.out}.err" | tr '\n' ' '))"
		sum=$(awk -v a="$sum" -v b="$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$out")" \
			'BEGIN { printf "%.1f", a + b }')
	done
	rate[$name]=$sum
	echo "== $name: $sum enrollments/s"
	[ -s "$W/$name.locks" ] && awk -F'|' 'NF == 2 { n++; a += $1; o += $2 - $1 }
		END { if (n) printf "   PostgreSQL lock waits (%d samples): %.2f transactions" \
			" waiting for the order lock on average, %.2f for other locks\n",
			n, a / n, o / n }' "$W/$name.locks"
	explain "$before" "$after" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		"$(cat "$W/$name".*.out | sed -n 's/.* ok=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')" \
		"$(cat "$W/$name".*.out | sed -n 's/.* cpu=\([0-9.]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')"
}

echo "== PostgreSQL in $PGD, fsync on"
PG start "$PGD" >/dev/null
PG psql "$PGD" -d postgres -c "ALTER SYSTEM SET fsync = on" \
	-c "ALTER SYSTEM SET full_page_writes = on" \
	-c "ALTER SYSTEM SET synchronous_commit = on" \
	-c "SELECT pg_reload_conf()" >/dev/null
for i in $(seq 1 50); do
	[ "$(PG psql "$PGD" -d postgres -tA -c 'SHOW fsync')" = on ] && break
	sleep 0.1
done
echo "   fsync=$(PG psql "$PGD" -d postgres -tA -c 'SHOW fsync')" \
	"full_page_writes=$(PG psql "$PGD" -d postgres -tA -c 'SHOW full_page_writes')" \
	"synchronous_commit=$(PG psql "$PGD" -d postgres -tA -c 'SHOW synchronous_commit')"
printf '%s\n' "SELECT count(*) FILTER (WHERE locktype = 'advisory' AND NOT granted)," \
	" count(*) FILTER (WHERE NOT granted) FROM pg_locks \\watch 0.1" >"$W/locks.sql"
U1=$(PG newdb "$PGD" bench_one)
U2=$(PG newdb "$PGD" bench_two)
read -r P1 P2 P3 P4 < <(
	a=$(free_port)
	b=$(free_port "$a")
	c=$(free_port "$a" "$b")
	d=$(free_port "$a" "$b" "$c")
	echo "$a $b $c $d"
)

echo "== one node, SQLite"
setup sqlite
node_start sqlite "$W/sqlite" "$P1" "$P2"
load sqlite-station station sqlite "$P1:$P2"
load sqlite-firstboot firstboot sqlite "$P1:$P2"
kill -TERM "${NODES[@]}"
wait "${NODES[@]}" 2>/dev/null || true
NODES=()

echo "== one node, PostgreSQL"
setup pg1 "$U1"
node_start pg1 "$W/pg1" "$P1" "$P2"
load pg1-station station pg1 "$P1:$P2"
load pg1-firstboot firstboot pg1 "$P1:$P2"
kill -TERM "${NODES[@]}"
wait "${NODES[@]}" 2>/dev/null || true
NODES=()

echo "== two nodes, one PostgreSQL"
setup pg2 "$U2"
cp -a "$W/pg2" "$W/pg2b"
rm -f "$W/pg2b/serve.lock"
node_start pg2a "$W/pg2" "$P1" "$P2"
node_start pg2b "$W/pg2b" "$P3" "$P4"
load pg2-station station pg2 "$P1:$P2" "$P3:$P4"
load pg2-firstboot firstboot pg2 "$P1:$P2" "$P3:$P4"

echo "== revocation on node A to revoked on node B ($revocations; on its CRL: $crl_revocations)"
revlat=$(python3 "$top/bench/revoke_latency.py" --est "127.0.0.1:$P1" \
	--cafile "$W/pg2/ca/chain.pem" \
	--station "$W/pg2.station.pem" "$W/pg2.station.key" \
	--admin "$W/pg2/admin/admin.pem" "$W/pg2/admin/admin.key" \
	--ocsp "127.0.0.1:$P4" --issuer "$W/pg2b/ca/issuing.pem" -n "$revocations" \
	--crl-count "$crl_revocations")
echo "$revlat" | sed 's/^/   /'

echo
echo "EST enrollments per second, $threads connections in all, ${secs} s each;"
echo "$(nproc) cores shared by the nodes (2 workers and a signer each),"
echo "PostgreSQL (fsync on) and the load generators. load: $(uptime | sed 's/.*load/load/')"
echo
printf '%-34s %10s %10s\n' scenario 'enroll/s' 'x sqlite'
row() {
	printf '%-34s %10s %10s\n' "$1" "$2" \
		"$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
}
row "station, 1 node, SQLite" "${rate[sqlite-station]}" "${rate[sqlite-station]}"
row "station, 1 node, PostgreSQL" "${rate[pg1-station]}" "${rate[sqlite-station]}"
row "station, 2 nodes, PostgreSQL" "${rate[pg2-station]}" "${rate[sqlite-station]}"
row "first boot, 1 node, SQLite" "${rate[sqlite-firstboot]}" "${rate[sqlite-firstboot]}"
row "first boot, 1 node, PostgreSQL" "${rate[pg1-firstboot]}" "${rate[sqlite-firstboot]}"
row "first boot, 2 nodes, PostgreSQL" "${rate[pg2-firstboot]}" "${rate[sqlite-firstboot]}"
echo
echo "2 nodes / 1 node on PostgreSQL: station $(awk -v a="${rate[pg2-station]}" \
	-v b="${rate[pg1-station]}" 'BEGIN { printf "%.2f", a / b }'), first boot $(awk \
	-v a="${rate[pg2-firstboot]}" -v b="${rate[pg1-firstboot]}" 'BEGIN { printf "%.2f", a / b }')"
echo "revocation on A to revoked by B's OCSP, and on B's CRL (the first"
echo "$crl_revocations), ms:"
echo "$revlat" | sed 's/^/   /'
