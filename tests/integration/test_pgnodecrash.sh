#!/usr/bin/env bash
# A node killed under load: two tessera serve on one PostgreSQL store (the
# fixture "pg"; each node a copy of the data directory, one SoftHSMv2
# token), enrollments to both and revocations through either, then SIGKILL
# of one node's whole process tree (supervisor, workers, signer) at once,
# mid-load: the node running the scheduled work, so the other must take
# it over. A client of the dead node retries on the survivor, as a load
# balancer would send it there. A client records a certificate only once
# the whole answer is in, and a revocation once its 200 is. Then: every
# certificate any client received, from either node, is in the store with
# the same DER and answers through the survivor's OCSP (good, or revoked
# as acknowledged); every acknowledged revocation is in the store; no
# serial twice; every consumed secret names its stored certificate; the
# survivor kept serving, took the scheduler over, and `tessera audit
# verify` passes. The last line sums it up (lost must be 0).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pglib.sh"
pg_fresh_db t_pgnodecrash_$$
pg() { PG psql "$TESSERA_PG_DIR" -d "$db" -tA -c "$1"; }
pg_two_nodes
C=$T/nc
mkdir -p "$C"
CURL=(curl -sS --connect-timeout 3 --max-time 30 --cacert "$DA/ca/chain.pem")
CT=(-H 'Content-Type: application/pkcs10')
JS=(-H 'Content-Type: application/json')
ADM=(--cert "$DA/admin/admin.pem" --key "$DA/admin/admin.key")

# cert_line P7: "SERIAL SHA256 CN" of the certificate in a base64 PKCS#7.
cert_line() {
	local serial fp cn
	read -r serial fp cn < <(cert_fields "$1") || return 1
	echo "$serial ${fp,,} $cn"
}
# Secrets minted through node A's admin API.
NSECRETS=${TESSERA_NODECRASH_SECRETS:-100}
mint_clients "https://localhost:$A1/api/v1/enrollment-secrets" nc "$NSECRETS" a1 a2 b1 b2

# --- clients ------------------------------------------------------------------
# Each appends only what it fully received: NAME.recv (SERIAL SHA256 CN
# NODE), NAME.acked (revoked serials). A request without an answer (the
# node died under it) is retried every 0.1 s on the other node; a 401 (or
# 409) there means the cut-off request had committed (NAME.cut). Any
# other answer: NAME.bad; a minute of retries without one: NAME.gaveup.
other() { [ "$1" = "$A1" ] && echo "$B1" || echo "$A1"; }
enroll_loop() { # NAME PORT
	local name=$1 port=$2 dev sec r rc code tries
	while read -r dev sec; do
		is_stopping && break
		openssl req -new -key "$C/$name.key" -subj "/CN=$dev" -outform DER \
			2>/dev/null | base64 -w0 >"$C/$name.csr"
		tries=0
		while :; do
			echo "$port" >"$C/$name.busy"
			read -r rc code < <(post_rc "$C/$name.out" \
				"https://localhost:$port/.well-known/est/simpleenroll" \
				"${CT[@]}" -u "$dev:$sec" --data-binary @"$C/$name.csr")
			rm -f "$C/$name.busy"
			case $(attempt_verdict "$rc" "$code" "$tries" 503) in
			ok)
				if r=$(cert_line "$C/$name.out"); then
					echo "$r $port" >>"$C/$name.recv"
				else
					echo "$dev: 200 without a certificate" >>"$C/$name.bad"
				fi
				break
				;;
			retry)
				tries=$((tries + 1))
				[ "$tries" = 1 ] && echo "$dev" >>"$C/$name.retried"
				if [ "$tries" -ge 600 ]; then
					echo "$dev" >>"$C/$name.gaveup"
					break
				fi
				port=$(other "$port")
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
# revoke_loop NAME SOURCE PORT: revokes every third certificate SOURCE
# received (NAME.tried lists each asked for).
revoke_loop() {
	local name=$1 src=$2 port=$3 seen=0 serial rc code tries n
	while ! is_stopping; do
		n=0
		[ -f "$C/$src.recv" ] || { sleep 0.1; continue; }
		while read -r serial _ _ _; do
			seen=$((seen + 1))
			[ $((seen % 3)) = 0 ] || continue
			is_stopping && break
			n=$((n + 1))
			echo "$serial" >>"$C/$name.tried"
			tries=0
			while :; do
				read -r rc code < <(post_rc "$C/$name.out" \
					"https://localhost:$port/api/v1/certificates/$serial/revoke" \
					"${ADM[@]}" "${JS[@]}" -d '{"reason": "keyCompromise"}')
				if [ "$rc" = 0 ] && [ "$code" = 200 ]; then
					echo "$serial" >>"$C/$name.acked"
					break
				elif [ "$code" = 000 ] || [ "$rc" != 0 ] || [ "$code" = 503 ]; then
					tries=$((tries + 1))
					[ "$tries" = 1 ] && echo "$serial" >>"$C/$name.retried"
					if [ "$tries" -ge 600 ]; then
						echo "$serial" >>"$C/$name.gaveup"
						break
					fi
					port=$(other "$port")
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
client enroll_loop a1 "$A1"
client enroll_loop a2 "$A1"
client enroll_loop b1 "$B1"
client enroll_loop b2 "$B1"
client revoke_loop va a1 "$A1"
client revoke_loop vb b1 "$B1"
cleanup_hooks+=(stop_clients)
count() { cat "$@" 2>/dev/null | wc -l; }
# Received from node PORT so far.
from() { cat "$C"/*.recv 2>/dev/null | awk -v p="$1" '$4 == p' | wc -l; }

# --- load on both, then the elected node killed -------------------------------
wait_expr 60 '[ "$(from "$A1")" -ge 4 ] && [ "$(from "$B1")" -ge 4 ]' && pass ||
	fail "fewer than 4 enrollments on each node within a minute"
wait_expr 30 '[ "$(count "$C"/va.acked "$C"/vb.acked)" -ge 1 ]' ||
	fail "no revocation before the kill"
elected() { grep -a "scheduler: this node runs" "$T/serve.err" | wc -l; }
[ "$(elected)" = 1 ] && pass || fail "$(elected) nodes say they run the scheduled work, want 1"
wpid=$(grep -a "scheduler: this node runs" "$T/serve.err" | head -1 |
	sed -n 's/.*tessera\[\([0-9]*\)\].*/\1/p')
victim=$(ps -o ppid= -p "$wpid" 2>/dev/null | tr -d ' ')
if [ "$victim" = "$PID_A" ]; then
	VNAME=A SURV=$PID_B SP1=$B1 SP2=$B2 SD=$DB VP1=$A1
elif [ "$victim" = "$PID_B" ]; then
	VNAME=B SURV=$PID_A SP1=$A1 SP2=$A2 SD=$DA VP1=$B1
else
	fail "the elected worker $wpid belongs to neither node"
	finish
	exit 1
fi
# Mid-request: once one of its clients has an enrollment out to it.
busy() { grep -qx "$VP1" "$C"/*.busy 2>/dev/null; }
wait_expr 30 busy || fail "no enrollment in flight to node $VNAME"
# The whole tree at once: the supervisor stopped first (it forks nothing
# more), then it, its workers and its signer.
kill -STOP "$victim"
kids=$(pgrep -P "$victim" | tr '\n' ' ')
# shellcheck disable=SC2086
kill -KILL "$victim" $kids
wait "$victim" 2>/dev/null
n_kill=$(count "$C"/*.recv)
gone() {
	local k s
	for k in $kids; do
		s=$(awk '{ print $3 }' "/proc/$k/stat" 2>/dev/null)
		[ -z "$s" ] || [ "$s" = Z ] || return 1
	done
}
wait_expr 10 gone && pass || fail "node $VNAME's processes outlived SIGKILL"
[ "$(wc -w <<<"$kids")" = 3 ] && pass ||
	fail "killed $(wc -w <<<"$kids") children of node $VNAME, want 2 workers and the signer"
echo "killed node $VNAME (supervisor $victim, children $kids) after $n_kill certificates received"

# The survivor serves the load (the dead node's clients come to it) and
# takes the scheduled work over.
wait_expr 30 '[ "$(elected)" -ge 2 ]' && pass ||
	fail "the surviving node did not take the scheduled work over within 30 s"
# shellcheck disable=SC2034 # read by wait_expr's condition
n_kill_surv=$(from "$SP1")
wait_expr 60 '[ "$(from "$SP1")" -ge $((n_kill_surv + 8)) ]' && pass ||
	fail "the survivor answered fewer than 8 enrollments within a minute of the kill"
touch "$C/stop"
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null; done
kill -0 "$SURV" 2>/dev/null && pass || fail "the surviving node died"

# --- nothing received is lost ---------------------------------------------------
if cat "$C"/*.bad 2>/dev/null | grep -q .; then
	fail "clients got answers they should not have:"
	cat "$C"/*.bad | head -5 | sed 's/^/    /' >&2
else pass; fi
n=$(count "$C"/*.gaveup)
[ "$n" = 0 ] && pass || fail "$n requests unanswered after a minute of retries"
pg "SELECT serial, encode(sha256(der), 'hex') FROM certificates" | tr '|' ' ' |
	sort >"$C/stored"
cat "$C"/*.recv | awk '{ print $1, $2 }' | sort >"$C/received"
check_received "$C/received" "$C/stored"
cat "$C"/va.acked "$C"/vb.acked 2>/dev/null | sort -u >"$C/acked"
pg "SELECT serial FROM certificates WHERE status = 'revoked'" | sort >"$C/revoked"
unrevoked=$(comm -23 "$C/acked" "$C/revoked" | wc -l)
[ "$unrevoked" = 0 ] && pass || fail "$unrevoked acknowledged revocations are not in the store"
n=$(pg "SELECT count(*) FROM enrollment_secrets s WHERE s.consumed_at IS NOT NULL
	AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = s.consumed_serial
	AND c.device_id = s.device_id)")
[ "$n" = 0 ] && pass || fail "$n consumed secrets without their certificate in the store"
# Each received certificate through the survivor's OCSP: revoked when its
# revocation was acknowledged (or found committed on retry), good when none
# was asked for; one the stop left unanswered may be either.
cat "$C"/va.acked "$C"/vb.acked "$C"/va.cut "$C"/vb.cut 2>/dev/null |
	sort -u >"$C/revoked.any"
cat "$C"/va.tried "$C"/vb.tried 2>/dev/null | sort -u >"$C/tried"
ocsp() { # SERIAL
	openssl ocsp -issuer "$SD/ca/issuing.pem" -serial "0x$1" \
		-url "http://127.0.0.1:$SP2/ocsp" -CAfile "$SD/ca/chain.pem" \
		-timeout 10 2>&1 | sed -n "s|^0x$1: ||p;/rror/{p;q}" | head -1
}
wrong=0
asked=0
while read -r serial _; do
	if grep -qx "$serial" "$C/revoked.any"; then
		want=revoked
	elif grep -qx "$serial" "$C/tried"; then
		continue
	else
		want=good
	fi
	asked=$((asked + 1))
	got=$(ocsp "$serial")
	[ "$got" = "$want" ] || {
		wrong=$((wrong + 1))
		[ "$wrong" -le 3 ] && echo "OCSP on the survivor for $serial: $got, want $want" >&2
	}
done <"$C/received"
[ "$wrong" = 0 ] && pass || fail "$wrong of $asked certificates answered otherwise by the survivor's OCSP"
check "audit verify" tessera audit verify --data "$SD"

echo "node crash: killed node $VNAME (the elected one) under load;" \
	"received $(wc -l <"$C/received") certificates ($(from "$A1") from A," \
	"$(from "$B1") from B; $n_kill when it was killed)," \
	"$(count "$C"/va.acked "$C"/vb.acked) revocations acknowledged," \
	"$(count "$C"/*.retried) requests cut off by the kill and retried on the survivor," \
	"$(count "$C"/*.cut) of them found committed;" \
	"$((asked - wrong)) of $asked answered by the survivor's OCSP as acknowledged;" \
	"lost: $lost certificates, $unrevoked revocations"
finish
