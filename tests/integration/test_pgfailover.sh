#!/usr/bin/env bash
# Failover on PostgreSQL's own terms: a primary and a synchronous streaming
# standby of its own (Unix sockets only, run as nobody when root, stopped
# at the end), tessera's store URL naming both hosts with
# target_session_attrs=read-write. Under a steady stream of enrollments
# and revocations (each client records what was acknowledged), the
# standby's WAL receiver is stopped until a commit waits for it, then the
# primary is killed with SIGKILL (its postmaster and every backend) and its socket
# then swallows connections unanswered (a dead machine across a network,
# skipped only after the URL's connect_timeout): writes answer 503 with
# the reason, OCSP keeps answering from memory; the standby is
# promoted and writes succeed again by themselves, with the same serve
# and the same workers (no restart), each connection skipping the dead
# first host. Then every certificate received is in the store (same DER),
# every acknowledged revocation is, OCSP on the serve answers each as
# acknowledged, and `tessera audit verify` passes.
#
# Prints the failover timing: from the kill to the first 200 answered to a
# write sent after the primary died, and from pg_ctl promote to it.
. "$(dirname "$0")/lib.sh"
bin=${TESSERA_PG_BIN:-/usr/lib/postgresql/15/bin}
tessera() { "$TESSERA_BIN" "$@"; }
now_ns() { date +%s%N; }
C=$T/fo
mkdir -p "$C"
phase() { echo "[${SECONDS}s] $*"; }

# --- a primary and a synchronous standby ----------------------------------
# Outside $T (mode 0700): PostgreSQL refuses to run as root, so it runs as
# nobody then, and needs to reach its directory.
PGD=$(mktemp -d /tmp/tessera-pgfo-XXXXXX)
chmod 755 "$PGD"
owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}
pg_stop_all() {
	local n
	for n in p s; do
		[ -f "$PGD/$n/data/postmaster.pid" ] || continue
		owner "$bin/pg_ctl" -D "$PGD/$n/data" -m immediate -w -t 30 \
			stop >/dev/null 2>&1 || true
	done
	rm -rf "$PGD"
}
cleanup_hooks+=(pg_stop_all)
read -r PP PS < <(pick_ports 2)
psql_on() { # p|s SQL...
	local n=$1 port
	[ "$n" = p ] && port=$PP || port=$PS
	shift
	"$bin/psql" -X -q -tA -v ON_ERROR_STOP=1 -h "$PGD/$n/run" -p "$port" \
		-U postgres -d "${PSQL_DB:-postgres}" "$@"
}
mkdir -p "$PGD/p/run" "$PGD/s/run"
[ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$PGD"
if ! owner "$bin/initdb" -D "$PGD/p/data" -U postgres -A trust -E UTF8 \
	--locale=C -N >"$C/initdb.log" 2>&1; then
	fail "initdb"
	cat "$C/initdb.log" >&2
	finish
	exit 1
fi
cat >>"$PGD/p/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$PGD/p/run'
port = $PP
fsync = off
shared_buffers = 16MB
max_connections = 40
max_wal_senders = 4
CONF
cat >"$PGD/p/data/pg_hba.conf" <<HBA
local all all trust
local replication all trust
HBA
owner "$bin/pg_ctl" -D "$PGD/p/data" -l "$PGD/p.log" -w -t 60 start \
	>/dev/null || { fail "the primary did not start"; cat "$PGD/p.log" >&2; finish; exit 1; }
# The standby: a base backup of the primary, following it (-R).
owner "$bin/pg_basebackup" -D "$PGD/s/data" -R -X stream -c fast \
	-h "$PGD/p/run" -p "$PP" -U postgres >"$C/basebackup.log" 2>&1 ||
	{ fail "pg_basebackup"; cat "$C/basebackup.log" >&2; finish; exit 1; }
cat >>"$PGD/s/data/postgresql.conf" <<CONF
unix_socket_directories = '$PGD/s/run'
port = $PS
synchronous_standby_names = ''
CONF
owner "$bin/pg_ctl" -D "$PGD/s/data" -l "$PGD/s.log" -w -t 60 start \
	>/dev/null || { fail "the standby did not start"; cat "$PGD/s.log" >&2; finish; exit 1; }
# Commits on the primary wait for the standby's flush from now on.
psql_on p -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
n=300
while [ "$n" -gt 0 ] &&
	[ "$(psql_on p -c "SELECT sync_state FROM pg_stat_replication" 2>/dev/null)" != sync ]; do
	sleep 0.1
	n=$((n - 1))
done
[ "$n" -gt 0 ] && pass || { fail "the standby is not a synchronous standby within 30 s"; finish; exit 1; }
psql_on p -c "CREATE ROLE tessera LOGIN" -c "CREATE DATABASE tessera OWNER tessera" >/dev/null
[ "$(psql_on s -c 'SELECT pg_is_in_recovery()')" = t ] && pass || fail "the standby is not in recovery"
# connect_timeout: how long a connection waits for a host that takes the
# connection and never answers before it goes on to the next host.
URL="postgresql://tessera@/tessera?host=$PGD/p/run,$PGD/s/run&port=$PP,$PS&target_session_attrs=read-write&connect_timeout=2"

phase "tessera"
# --- tessera on both hosts --------------------------------------------------
D=$T/var
read -r P1 P2 < <(pick_ports 2)
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --connect-timeout 3 --max-time 30 --cacert "$D/ca/chain.pem")
CT=(-H 'Content-Type: application/pkcs10')
JS=(-H 'Content-Type: application/json')
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")
check "init on a two-host URL" tessera init --data "$D" --store "$URL" --publish-url "$PUB"
start_server "$D" "$P1" "$P2" 2 || { fail "serve did not start"; finish; exit 1; }
workers_before=$(pgrep -P "$SERVER_PID" | sort | tr '\n' ' ')

# post OUT URL [curl args...]: prints "RC CODE START_NS END_NS".
post() {
	local out=$1 url=$2 code rc t0
	shift 2
	t0=$(now_ns)
	code=$("${CURL[@]}" -o "$out" -w '%{http_code}' "$@" "$url" 2>/dev/null)
	rc=$?
	echo "$rc ${code:-000} $t0 $(now_ns)"
}
# cert_line P7: "SERIAL SHA256 CN" of the certificate in a base64 PKCS#7.
cert_line() {
	local serial fp cn
	read -r serial fp cn < <(cert_fields "$1") || return 1
	echo "$serial ${fp,,} $cn"
}
# Secrets minted through the admin API before the kill.
NSECRETS=${TESSERA_FAILOVER_SECRETS:-100}
mint_clients "$API/enrollment-secrets" fo "$NSECRETS" e1 e2

phase "clients"
# --- clients ------------------------------------------------------------------
# Each writes NAME.log ("START_NS END_NS CODE" per answer) and records only
# what was acknowledged: NAME.recv (enrollments: SERIAL SHA256 CN),
# NAME.acked (revocations: SERIAL). A 503 (or no answer) is retried with
# the same request every 0.1 s; a 401 or 409 on such a retry means the
# cut-off request had committed (NAME.cut). Any other answer: NAME.bad;
# the first 503's body is kept as NAME.503.
note() { # NAME CODE START END
	echo "$3 $4 $2" >>"$C/$1.log"
	if [ "$2" = 503 ] && [ ! -e "$C/$1.503" ]; then cp "$C/$1.out" "$C/$1.503"; fi
}
enroll_loop() {
	local name=$1 dev sec r rc code t0 t1 tries
	while read -r dev sec; do
		is_stopping && break
		openssl req -new -key "$C/$name.key" -subj "/CN=$dev" -outform DER \
			2>/dev/null | base64 -w0 >"$C/$name.csr"
		tries=0
		while ! is_stopping; do
			read -r rc code t0 t1 < <(post "$C/$name.out" "$EST/simpleenroll" \
				"${CT[@]}" -u "$dev:$sec" --data-binary @"$C/$name.csr")
			note "$name" "$code" "$t0" "$t1"
			case $(attempt_verdict "$rc" "$code" "$tries" 503) in
			ok)
				if r=$(cert_line "$C/$name.out"); then
					echo "$r" >>"$C/$name.recv"
				else
					echo "$dev: 200 without a certificate" >>"$C/$name.bad"
				fi
				break
				;;
			retry)
				tries=$((tries + 1))
				sleep 0.1
				;;
			used)
				echo "$dev" >>"$C/$name.cut"
				break
				;;
			*)
				echo "$dev: HTTP $code $(head -c 200 "$C/$name.out")" >>"$C/$name.bad"
				break
				;;
			esac
		done
	done <"$C/$name.secrets"
}
# revoke_loop NAME SOURCE: revokes every other certificate SOURCE received;
# holds while $C/pause exists.
revoke_loop() {
	local name=$1 src=$2 seen=0 serial fp cn rc code t0 t1 tries
	while ! is_stopping; do
		[ -f "$C/$src.recv" ] || { sleep 0.1; continue; }
		n=0
		while read -r serial fp cn; do
			seen=$((seen + 1))
			[ $((seen % 2)) = 0 ] || continue
			# Held while the main script fills the OCSP cache (a
			# revocation drops the cached answers).
			while [ -e "$C/pause" ] && ! is_stopping; do
				touch "$C/paused"
				sleep 0.05
			done
			n=$((n + 1))
			echo "$serial" >>"$C/$name.tried"
			tries=0
			while ! is_stopping; do
				read -r rc code t0 t1 < <(post "$C/$name.out" \
					"$API/certificates/$serial/revoke" "${ADM[@]}" "${JS[@]}" \
					-d '{"reason": "keyCompromise"}')
				note "$name" "$code" "$t0" "$t1"
				if [ "$rc" = 0 ] && [ "$code" = 200 ]; then
					echo "$serial" >>"$C/$name.acked"
					break
				elif [ "$code" = 000 ] || [ "$code" = 503 ] || [ "$rc" != 0 ]; then
					tries=$((tries + 1))
					sleep 0.1
				elif [ "$code" = 409 ] && [ "$tries" -gt 0 ]; then
					echo "$serial" >>"$C/$name.cut"
					break
				else
					echo "$serial: HTTP $code $(head -c 200 "$C/$name.out")" >>"$C/$name.bad"
					break
				fi
			done
		done < <(tail -n +"$((seen + 1))" "$C/$src.recv")
		[ "$n" = 0 ] && sleep 0.1
	done
}
client enroll_loop e1
client enroll_loop e2
client revoke_loop v1 e1
cleanup_hooks+=(stop_clients)
count() { cat "$@" 2>/dev/null | wc -l; }

# Load before the kill; an OCSP answer put in memory (asked of both
# workers), with revocations held meanwhile: each drops the cached answers.
wait_expr 60 '[ "$(count "$C"/e1.recv "$C"/e2.recv)" -ge 6 ]' ||
	fail "fewer than 6 enrollments in a minute before the kill"
wait_expr 30 '[ "$(count "$C"/v1.acked)" -ge 1 ]' || fail "no revocation before the kill"
touch "$C/pause"
wait_expr 30 '[ -e "$C/paused" ]' || fail "the revoking client did not hold"
read -r OSERIAL _ < <(head -1 "$C/e1.recv")
# ocsp SERIAL: good, revoked or the error's first line. Without a nonce,
# as gateways ask (RFC 5019): the answer may come pre-signed from memory.
ocsp() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -serial "0x$1" -url "$PUB/ocsp" \
		-no_nonce -CAfile "$D/ca/chain.pem" -timeout 10 2>&1 |
		sed -n "s|^0x$1: ||p;/rror/{p;q}" | head -1
}
# Each worker asked exactly once, as a GET (RFC 5019) on a connection of
# its own: which worker takes a new connection is the kernel's choice, so
# connections are opened (each asking only /ca/root.crt, answered from
# memory) until one lands on a worker not asked yet, which is then asked
# on that connection. The first worker asked signs the answer online and
# stores it, the other reads it from the store: each has served it once,
# and each must answer it from its memory in the gap. Prints a line
# "WORKER STATUS" per answer (good, revoked, tryLater or what came).
cat >"$C/pin.py" <<'EOF'
import base64, http.client, sys, time, urllib.parse
from cryptography.x509 import ocsp
port, req, workers, times = (int(sys.argv[1]), sys.argv[2],
                             int(sys.argv[3]), int(sys.argv[4]))
path = "/ocsp/" + urllib.parse.quote(
    base64.b64encode(open(req, "rb").read()).decode(), safe="")
def status(code, body):
    if code != 200:
        return "HTTP-%d" % code
    try:
        r = ocsp.load_der_ocsp_response(body)
    except ValueError as e:
        return "unparsable:" + str(e).replace(" ", "_")
    if r.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return {"TRY_LATER": "tryLater"}.get(r.response_status.name,
                                             r.response_status.name)
    return r.certificate_status.name.lower()
asked = set()
# Bounded in time, not in tries: a worker whose threads wait for the
# CPU (the machine under load) may let the other take hundreds of
# connections in a row; a pause lets it catch up.
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/ca/root.crt")
    r = c.getresponse()
    r.read()
    w = r.getheader("Tessera-Worker")
    if w is not None and w not in asked:
        asked.add(w)
        for _ in range(times):
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            print(r.getheader("Tessera-Worker"), status(r.status, body),
                  flush=True)
    c.close()
    if len(asked) == workers:
        break
    time.sleep(0.02)
else:
    print("asked", len(asked), "of", workers, "workers in 30 s")
EOF
openssl ocsp -issuer "$D/ca/issuing.pem" -serial "0x$OSERIAL" -no_nonce \
	-reqout "$C/ocsp.req" >/dev/null 2>&1 || fail "openssl ocsp -reqout"
# pin_ocsp TIMES: each of the two workers asked TIMES on a connection.
pin_ocsp() { python3 "$C/pin.py" "$P2" "$C/ocsp.req" 2 "$1" 2>&1; }
pin_ocsp 1 >"$C/ocsp.before"
before_want=$(awk '{ print $2 }' "$C/ocsp.before" | sort -u)
[ "$(awk '{ print $1 }' "$C/ocsp.before" | sort -u | grep -c .)" = 2 ] &&
	{ [ "$before_want" = good ] || [ "$before_want" = revoked ]; } && pass ||
	fail "OCSP before the kill, a worker each: $(tr '\n' ' ' <"$C/ocsp.before")"

phase "kill"
# --- kill -9 the primary: its postmaster and every backend --------------------
bash "$TESSERA_SOURCE/tests/integration/pg.sh" hang "$PGD" &
HUNG=$!
cleanup_hooks+=("kill $HUNG 2>/dev/null")
wait_expr 30 '[ -S "$PGD/hung.sock" ]' || fail "no listener for the dead primary's socket"
# The standby stops receiving just before the kill: with synchronous
# replication a commit waits for it (SyncRep), so what was acknowledged is
# on it; a write the standby never got was never acknowledged. (With an
# asynchronous standby the writes acknowledged meanwhile are lost here.)
WALRCV=$(psql_on s -c "SELECT pid FROM pg_stat_wal_receiver")
[ -n "$WALRCV" ] && kill -STOP "$WALRCV" && pass || fail "no WAL receiver on the standby"
wait_expr 20 '[ "$(psql_on p -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = '"'"'SyncRep'"'"'")" -ge 1 ]' ||
	fail "no commit waited for the standby within 20 s"
pm=$(head -1 "$PGD/p/data/postmaster.pid")
acked_before=$(count "$C"/e1.recv "$C"/e2.recv "$C"/v1.acked)
kill -STOP "$pm"
KILLED_PG="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
T_KILL=$(now_ns)
# shellcheck disable=SC2086
kill -KILL $KILLED_PG
# Writes are counted from when every process of the primary is gone (a
# request sent while one still ran may have committed there).
pg_gone() {
	local v s
	for v in $KILLED_PG; do
		s=
		read -r _ _ s _ <"/proc/$v/stat" 2>/dev/null
		[ -z "$s" ] || [ "$s" = Z ] || return 1
	done
}
wait_expr 10 pg_gone || fail "the primary's processes outlived SIGKILL"
T_DEAD=$(now_ns)
# pg_ctl stop at the end must not signal whatever gets that pid next.
rm -f "$PGD/p/data/postmaster.pid"
[ -n "$WALRCV" ] && kill -CONT "$WALRCV"
# The primary's address now takes connections and never answers, as a
# dead machine's does across a network (SYNs unanswered): every
# reconnection must give up on it after connect_timeout and go on to
# the standby, rather than be refused at once.
# (Listening since before the kill; a bound socket keeps working under
# its new name.)
mv -f "$PGD/hung.sock" "$PGD/p/run/.s.PGSQL.$PP"
echo "killed the primary (postmaster $pm and $(($(wc -w <<<"$KILLED_PG") - 1)) children)"
rm -f "$C/pause"

# Writes answer 503 with the reason.
# The reason names each host: the first timed out, the standby still
# read-only (asked a few times: a connection that failed waits before
# it tries again).
probe() {
	"${CURL[@]}" "${ADM[@]}" "${JS[@]}" -d '{"device": "fo-probe"}' \
		-o "$C/probe.out" -w '%{http_code}' "$API/enrollment-secrets"
}
reason=0
for _ in $(seq 1 30); do
	code=$(probe)
	[ "$code" = 503 ] || break
	grep -q "unreachable.*$PGD/p/run.*timeout expired.*$PGD/s/run.*read-only" "$C/probe.out" &&
		{ reason=1; break; }
	sleep 0.1
done
if [ "$code" = 503 ] && [ "$reason" = 1 ]; then
	pass
	echo "503 during the gap: $(head -c 600 "$C/probe.out")"
else
	fail "a write during the gap: HTTP $code, want 503 with the reason of each host"
	head -c 600 "$C/probe.out" >&2
fi
phase "reason seen"
# Reads keep answering from memory: each worker served the answer once
# before the kill, and answers it from its memory now, as before (never
# tryLater while the answer is valid), each within openssl's 10 s,
# although a reconnection attempt holds a worker's read connection for
# connect_timeout. Asked of each worker three times, then six times as
# openssl asks (a new connection each, the signature checked).
pin_ocsp 3 >"$C/ocsp.gap"
n_ok=0
others=
for _ in 1 2 3 4 5 6; do
	got=$(ocsp "$OSERIAL")
	if [ "$got" = "$before_want" ]; then
		n_ok=$((n_ok + 1))
	else
		others="$others [$got]"
	fi
done
[ "$(grep -c " $before_want\$" "$C/ocsp.gap")" = 6 ] &&
	[ "$(awk '{ print $1 }' "$C/ocsp.gap" | sort -u | grep -c .)" = 2 ] && pass ||
	fail "OCSP of each worker while the primary is gone, want $before_want:" \
		"$(tr '\n' ' ' <"$C/ocsp.gap")"
[ "$n_ok" = 6 ] && pass ||
	fail "$n_ok of 6 OCSP answers from memory while the primary is gone, want $before_want, others:$others"
echo "OCSP during the gap: $(tr '\n' ' ' <"$C/ocsp.gap")(WORKER STATUS), $n_ok of 6 openssl asks $before_want"
n_during=$(count "$C"/e1.recv "$C"/e2.recv "$C"/v1.acked)

phase "promote"
# --- promote the standby; writes resume by themselves -------------------------
T_PROMOTE=$(now_ns)
owner "$bin/pg_ctl" -D "$PGD/s/data" -w -t 60 promote >/dev/null ||
	fail "pg_ctl promote"
T_PROMOTED=$(now_ns)
first_200() { # when the first 200 came to a request sent after the primary died
	cat "$C"/*.log 2>/dev/null |
		awk -v k="$T_DEAD" '$1 > k && $3 == 200 { print $2 }' | sort -n | head -1
}
wait_expr 30 '[ -n "$(first_200)" ]' && pass ||
	fail "no write succeeded within 30 s of the promotion"
F0=$(first_200)
# Some more load on the new primary, then the clients finish.
# shellcheck disable=SC2034 # read by wait_expr's conditions
n_after=$(count "$C"/e1.recv "$C"/e2.recv "$C"/v1.acked)
# shellcheck disable=SC2034
r_after=$(count "$C"/v1.acked)
wait_expr 30 '[ "$(count "$C"/e1.recv "$C"/e2.recv "$C"/v1.acked)" -ge $((n_after + 3)) ]' ||
	fail "fewer than 3 writes acknowledged after the failover"
wait_expr 30 '[ "$(count "$C"/v1.acked)" -gt "$r_after" ]' ||
	fail "no revocation acknowledged after the failover"
# The clients stop between requests (each bounded by curl's --max-time).
touch "$C/stop"
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null; done
kill -0 "$SERVER_PID" 2>/dev/null && pass || fail "serve died in the failover"
workers_after=$(pgrep -P "$SERVER_PID" | sort | tr '\n' ' ')
[ "$workers_before" = "$workers_after" ] && pass ||
	fail "the workers changed (restarted?): $workers_before -> $workers_after"

phase "checks"
n=$(cat "$C"/*.503 2>/dev/null | grep -c 'the database is unreachable')
[ "$n" -ge 1 ] && pass || fail "no client's write was answered 503 with the reason"
# --- nothing acknowledged is missing ----------------------------------------
if cat "$C"/*.bad 2>/dev/null | grep -q .; then
	fail "clients got answers they should not have:"
	cat "$C"/*.bad | head -5 | sed 's/^/    /' >&2
else pass; fi
PSQL_DB=tessera psql_on s -c "SELECT serial, encode(sha256(der), 'hex') FROM certificates" |
	tr '|' ' ' | sort >"$C/stored"
cat "$C"/e1.recv "$C"/e2.recv | awk '{ print $1, $2 }' | sort >"$C/received"
lost=$(comm -23 "$C/received" "$C/stored" | wc -l)
[ "$lost" = 0 ] && pass || {
	fail "$lost certificates clients received are not in the store (or differ):"
	comm -23 "$C/received" "$C/stored" | head -5 | sed 's/^/    /' >&2
}
PSQL_DB=tessera psql_on s -c "SELECT serial FROM certificates WHERE status = 'revoked'" |
	sort >"$C/revoked"
sort -u "$C/v1.acked" >"$C/want.revoked"
unrevoked=$(comm -23 "$C/want.revoked" "$C/revoked" | wc -l)
[ "$unrevoked" = 0 ] && pass || fail "$unrevoked acknowledged revocations are not in the store"
# OCSP answers each as acknowledged: revoked, or good when no revocation
# was asked for (one the stop left unanswered may have gone either way).
cat "$C"/v1.acked "$C"/v1.cut 2>/dev/null | sort -u >"$C/revoked.any"
wrong=0
while read -r serial _; do
	if grep -qx "$serial" "$C/revoked.any"; then
		want=revoked
	elif grep -qx "$serial" "$C/v1.tried"; then
		continue
	else
		want=good
	fi
	got=$(ocsp "$serial")
	[ "$got" = "$want" ] || {
		wrong=$((wrong + 1))
		[ "$wrong" -le 3 ] && echo "OCSP for $serial: $got, want $want" >&2
	}
done <"$C/received"
[ "$wrong" = 0 ] && pass || fail "$wrong certificates answered otherwise than acknowledged by OCSP"
check "audit verify after the failover" tessera audit verify --data "$D"
stop_server

gap_ms=$(((F0 - T_KILL) / 1000000))
promote_ms=$(((F0 - T_PROMOTE) / 1000000))
promoted_ms=$(((T_PROMOTED - T_PROMOTE) / 1000000))
echo "failover: $(wc -l <"$C/received") certificates received and" \
	"$(count "$C"/v1.acked) revocations acknowledged ($acked_before of these writes" \
	"before the kill, $((n_during - acked_before)) answered just after it)," \
	"$(count "$C"/*.cut) cut off and found committed on retry; kill -9 to the first write answered 200: $gap_ms ms," \
	"pg_ctl promote (${promoted_ms} ms until it returned) to it: $promote_ms ms; lost: $lost certificates, $unrevoked revocations" \
	"(load $(cut -d' ' -f1-3 /proc/loadavg))"
finish
