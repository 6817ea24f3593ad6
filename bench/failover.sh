#!/usr/bin/env bash
# bench/failover.sh [ROUNDS]: how long tessera's writes are away when the
# PostgreSQL primary dies and its synchronous standby is promoted, against
# libpq alone (psql on the same multi-host URL) in the same round. Not a
# test; ctest never runs it. Default ROUNDS: 3.
#
# A primary and a synchronous streaming standby (Unix sockets, run as
# nobody when root, fsync on), `tessera serve` (2 workers) with the store
# URL naming both hosts, target_session_attrs=read-write. Two loops run
# all along: one creates enrollment secrets through tessera's admin API
# (a write: BEGIN ... COMMIT on the primary), one runs psql with the
# same URL and a statement only a primary takes. Each round kills the
# primary (SIGKILL to its postmaster and every backend), promotes the
# standby at once (as a failover tool would, with no detection delay),
# waits for both loops to write again, then rebuilds the dead one as the
# new primary's synchronous standby (pg_basebackup), so the next round
# fails over the other way. Per round: pg_ctl promote's own time, and the
# gap from the kill to the first write answered (the first success among
# requests sent once every process of the old primary was gone, at its
# answer), for tessera and for psql; then the medians and the difference.
# After a failed attempt a tessera connection tries none for half a
# second or as long as the attempt took, so its gap is psql's plus up to
# that: with HUNG=1 and the dead host first in the URL, about twice
# connect_timeout.
#
# HUNG=1: the dead primary's socket then takes connections and never
# answers, as a dead machine's address does across a network (SYNs
# unanswered), so each attempt waits out connect_timeout (2 s in both
# URLs) before libpq goes on to the next host.
rounds=${1:-3}
hung=${HUNG:-0}
HUNGPID=
. "$(dirname "$0")/lib.sh"
bin=${TESSERA_PG_BIN:-/usr/lib/postgresql/15/bin}
PGD=$(mktemp -d /tmp/tessera-benchfo-XXXXXX)
chmod 755 "$PGD"
LOOPS=()
owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}
bench_stop() {
	local n p
	touch "$W/stop"
	for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -z "$HUNGPID" ] || kill "$HUNGPID" 2>/dev/null || true
	serve_stop
	for n in a b; do
		[ -f "$PGD/$n/data/postmaster.pid" ] || continue
		owner "$bin/pg_ctl" -D "$PGD/$n/data" -m immediate -w -t 30 \
			stop >/dev/null 2>&1 || true
	done
	rm -rf "$PGD"
}
now_ns() { date +%s%N; }
PA=$(free_port)
PB=$(free_port "$PA")
port_of() { [ "$1" = a ] && echo "$PA" || echo "$PB"; }
psql_on() { # a|b SQL...
	local n=$1
	shift
	"$bin/psql" -X -q -tA -v ON_ERROR_STOP=1 -h "$PGD/$n/run" \
		-p "$(port_of "$n")" -U postgres -d postgres "$@"
}
conf() { # NODE: its own socket directory and port
	cat >>"$PGD/$1/data/postgresql.conf" <<-CONF
		listen_addresses = ''
		unix_socket_directories = '$PGD/$1/run'
		port = $(port_of "$1")
		shared_buffers = 16MB
		max_connections = 40
		max_wal_senders = 4
	CONF
}
start() { # NODE
	owner "$bin/pg_ctl" -D "$PGD/$1/data" -l "$PGD/$1.log" -w -t 60 start \
		>/dev/null
}
# standby_of NEW OLD: NEW (its data removed) becomes OLD's standby, and
# OLD's commits wait for it.
standby_of() {
	rm -rf "$PGD/$1/data"
	owner "$bin/pg_basebackup" -D "$PGD/$1/data" -R -X stream -c fast \
		-h "$PGD/$2/run" -p "$(port_of "$2")" -U postgres
	conf "$1"
	# Not waiting for a standby of its own once promoted (ALTER SYSTEM on
	# the primary put '*' in the copied postgresql.auto.conf).
	echo "synchronous_standby_names = ''" >>"$PGD/$1/data/postgresql.auto.conf"
	start "$1"
	psql_on "$2" -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
		-c "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 1 300); do
		[ "$(psql_on "$2" -c "SELECT sync_state FROM pg_stat_replication")" = sync ] &&
			return 0
		sleep 0.1
	done
	echo "failover: $1 is no synchronous standby of $2 within 30 s" >&2
	return 1
}

mkdir -p "$PGD/a/run" "$PGD/b/run"
[ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$PGD"
owner "$bin/initdb" -D "$PGD/a/data" -U postgres -A trust -E UTF8 \
	--locale=C -N >/dev/null
conf a
printf 'local all all trust\nlocal replication all trust\n' \
	>"$PGD/a/data/pg_hba.conf"
start a
standby_of b a
psql_on a -c "CREATE ROLE tessera LOGIN" \
	-c "CREATE DATABASE tessera OWNER tessera" >/dev/null
hosts="host=$PGD/a/run,$PGD/b/run&port=$PA,$PB&target_session_attrs=read-write&connect_timeout=2"
URL="postgresql://tessera@/tessera?$hosts"
SU_URL="postgresql://postgres@/postgres?$hosts"

D=$W/var
P1=$(free_port "$PA" "$PB")
P2=$(free_port "$PA" "$PB" "$P1")
"$TESSERA" init --data "$D" --store "$URL" >"$W/init.out" 2>&1 ||
	{ cat "$W/init.out" >&2; exit 1; }
no_rate_limits "$D"
serve_start "$D" "$P1" "$P2" 2

# The loops: "START_NS END_NS OK|ERR" per attempt; an attempt that failed
# waits 20 ms before the next.
tessera_loop() {
	local t0 code
	while [ ! -e "$W/stop" ]; do
		t0=$(now_ns)
		code=$(curl -s --max-time 30 --cacert "$D/ca/chain.pem" \
			--cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
			-H 'Content-Type: application/json' -d '{"device": "bench-fo"}' \
			-o /dev/null -w '%{http_code}' \
			"https://localhost:$P1/api/v1/enrollment-secrets" || true)
		if [ "$code" = 201 ]; then echo "$t0 $(now_ns) OK"; else
			echo "$t0 $(now_ns) ERR"
			sleep 0.02
		fi
	done >"$W/tessera.log"
}
psql_loop() {
	local t0
	while [ ! -e "$W/stop" ]; do
		t0=$(now_ns)
		if "$bin/psql" -X -q -tA "$SU_URL" \
			-c "CREATE TEMP TABLE failover_probe (x int)" >/dev/null 2>&1; then
			echo "$t0 $(now_ns) OK"
		else
			echo "$t0 $(now_ns) ERR"
			sleep 0.02
		fi
	done >"$W/psql.log"
}
tessera_loop &
LOOPS+=($!)
psql_loop &
LOOPS+=($!)

# first_ok LOG AFTER_NS: when the first attempt started after AFTER_NS
# succeeded (its end).
first_ok() {
	awk -v k="$2" '$1 > k && $3 == "OK" { print $2 }' "$1" | sort -n | head -1
}
echo "failover: $rounds rounds, dead primary $([ "$hung" = 1 ] && echo "unanswering (connect_timeout 2 s)" || echo refusing); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-8s %12s %16s %16s\n' round primary "promote ms" "psql gap ms" "tessera gap ms"
primary=a
standby=b
gaps_t=()
gaps_p=()
for r in $(seq 1 "$rounds"); do
	# Writes flowing through both loops first.
	t=$(now_ns)
	for _ in $(seq 1 300); do
		[ -n "$(first_ok "$W/tessera.log" "$t")" ] &&
			[ -n "$(first_ok "$W/psql.log" "$t")" ] && break
		sleep 0.1
	done
	if [ "$hung" = 1 ]; then
		# Listening before the kill; moved onto the dead primary's
		# socket path right after it (a bound socket keeps working
		# under its new name): no interpreter start in the gap.
		rm -f "$PGD/hung.sock"
		bash "$top/tests/integration/pg.sh" hang "$PGD" &
		HUNGPID=$!
		for _ in $(seq 1 1000); do
			[ -S "$PGD/hung.sock" ] && break
			sleep 0.01
		done
	fi
	pm=$(head -1 "$PGD/$primary/data/postmaster.pid")
	kill -STOP "$pm"
	victims="$pm $(pgrep -P "$pm" | tr '\n' ' ' || true)"
	t_kill=$(now_ns)
	# shellcheck disable=SC2086
	kill -KILL $victims
	# Writes counted from when every process of the primary is gone (a
	# request sent while one still ran may have committed there).
	for _ in $(seq 1 200); do
		gone=1
		for v in $victims; do
			st=
			read -r _ _ st _ <"/proc/$v/stat" 2>/dev/null || true
			[ -z "$st" ] || [ "$st" = Z ] || gone=0
		done
		[ "$gone" = 1 ] && break
		sleep 0.01
	done
	t_dead=$(now_ns)
	if [ "$hung" = 1 ]; then
		sock=$PGD/$primary/run/.s.PGSQL.$(port_of "$primary")
		mv -f "$PGD/hung.sock" "$sock"
	fi
	t_prom=$(now_ns)
	owner "$bin/pg_ctl" -D "$PGD/$standby/data" -w -t 60 promote >/dev/null
	t_promoted=$(now_ns)
	ft=
	fp=
	for _ in $(seq 1 600); do
		ft=$(first_ok "$W/tessera.log" "$t_dead")
		fp=$(first_ok "$W/psql.log" "$t_dead")
		[ -n "$ft" ] && [ -n "$fp" ] && break
		sleep 0.05
	done
	[ -n "$ft" ] && [ -n "$fp" ] || {
		echo "round $r: writes did not resume within 30 s" >&2
		exit 1
	}
	gaps_t+=("$(((ft - t_kill) / 1000000))")
	gaps_p+=("$(((fp - t_kill) / 1000000))")
	printf '%-6s %-8s %12s %16s %16s\n' "$r" "$primary" \
		"$(((t_promoted - t_prom) / 1000000))" "${gaps_p[-1]}" "${gaps_t[-1]}"
	# The dead primary comes back as the new one's synchronous standby.
	for _ in $(seq 1 100); do
		kill -0 "$pm" 2>/dev/null || break
		sleep 0.05
	done
	rm -f "$PGD/$primary/data/postmaster.pid"
	if [ -n "$HUNGPID" ]; then
		kill "$HUNGPID" 2>/dev/null || true
		wait "$HUNGPID" 2>/dev/null || true
		HUNGPID=
		rm -f "$sock"
	fi
	standby_of "$primary" "$standby" >/dev/null 2>&1 ||
		{ echo "round $r: rebuilding the standby failed" >&2; exit 1; }
	tmp=$primary
	primary=$standby
	standby=$tmp
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mt=$(median "${gaps_t[@]}")
mp=$(median "${gaps_p[@]}")
echo "median gap from kill -9 to the first write: tessera $mt ms, psql $mp ms" \
	"(tessera - psql: $((mt - mp)) ms); load $(cut -d' ' -f1-3 /proc/loadavg)"
