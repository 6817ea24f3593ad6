#!/usr/bin/env bash
# Two nodes, one authority: two tessera serve on one PostgreSQL store (the
# fixture "pg"), each with its own copy of the data directory (the same
# configuration, TLS key and, here, the same SoftHSMv2 token). A one-time
# secret raced by concurrent enrollments on both nodes: exactly one 200,
# the rest 401, one certificate stored. A device revoked on node A is
# answered revoked by OCSP on node B and is on the CRL that both nodes
# serve at /crl and in both nodes' crl/ files (times printed: the issue
# asks for one and two seconds;
# the bound here is 10 s, a loaded machine is no timer). The scheduled
# work (CRLs, OCSP refresh, checkpoints) runs on one node only; after
# kill -9 of that node the other takes it over (time printed) and its CRL
# carries a revocation made after the takeover. crlNumbers only increase,
# whichever node builds: the numbers served before, after the revocation
# and after the takeover are checked in order, on both nodes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pglib.sh"
pg_fresh_db t_pgnodes_$$
pg() { PG psql "$TESSERA_PG_DIR" -d "$db" -tA -c "$1"; }
RACERS=${TESSERA_RACERS:-8}

pg_two_nodes

C=(--cacert "$DA/ca/chain.pem" -sS --max-time 30)
csr race /CN=race-dev
openssl req -in "$T/race.csr" -outform DER 2>/dev/null | base64 -w0 >"$T/race.b64"
S=$(tessera secret --data "$DA" --device race-dev 2>>"$T/cli.err" | tail -1)
[ -n "$S" ] && pass || fail "no secret"
c0=$(pg "SELECT count(*) FROM certificates")

# The racers start together: each waits for the go file. curl's own
# --max-time bounds each.
racers=()
for i in $(seq 1 "$RACERS"); do
	if [ $((i % 2)) = 0 ]; then port=$A1; else port=$B1; fi
	(
		while [ ! -e "$T/go" ]; do sleep 0.01; done
		code=$(curl "${C[@]}" -o "$T/race.$i.p7" -w '%{http_code}' \
			-u "race-dev:$S" -H 'Content-Type: application/pkcs10' \
			--data-binary @"$T/race.b64" \
			"https://localhost:$port/.well-known/est/simpleenroll")
		echo "$code" >"$T/race.$i.code"
	) &
	racers+=($!)
done
touch "$T/go"
wait "${racers[@]}"
ok=$(cat "$T"/race.*.code | grep -c '^200$')
denied=$(cat "$T"/race.*.code | grep -c '^401$')
[ "$ok" = 1 ] && pass || fail "secret raced on two nodes: $ok answers 200, want exactly 1"
[ "$denied" = $((RACERS - 1)) ] && pass ||
	fail "secret raced on two nodes: $denied answers 401, want $((RACERS - 1)) ($(cat "$T"/race.*.code | tr '\n' ' '))"
[ "$(pg "SELECT count(*) FROM certificates")" = $((c0 + 1)) ] && pass ||
	fail "the race stored other than one certificate"
winner=$(grep -l '^200$' "$T"/race.*.code | head -1)
winner=${winner%.code}
base64 -d "$winner.p7" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	openssl x509 -out "$T/race.pem" 2>/dev/null
[ -s "$T/race.pem" ] && pass || fail "the winner got no certificate"

# Revoked through node A, answered revoked by node B.
serial=$(openssl x509 -in "$T/race.pem" -noout -serial | cut -d= -f2)
ocsp_b() {
	openssl ocsp -issuer "$DB/ca/issuing.pem" -cert "$T/race.pem" \
		-url "http://127.0.0.1:$B2/ocsp" -CAfile "$DB/ca/chain.pem" \
		-timeout 10 2>&1 | sed -n "s|^$T/race.pem: ||p"
}
[ "$(ocsp_b)" = good ] && pass || fail "node B's OCSP before the revocation"
# crl_get PORT NAME: the issuing CA's CRL a node serves, in $T/NAME.crl;
# crl_has NAME SERIAL; crl_number NAME: its crlNumber in decimal.
crl_get() {
	curl -sf --max-time 10 -o "$T/$2.crl" "http://127.0.0.1:$1/crl/issuing.crl"
}
crl_has() {
	openssl crl -inform DER -in "$T/$1.crl" -noout -text 2>/dev/null |
		grep -qi "Serial Number: *$2\$"
}
crl_number() {
	local h
	h=$(openssl crl -inform DER -in "$T/$1.crl" -noout -crlnumber 2>/dev/null |
		sed -n 's/^crlNumber=0x//p')
	[ -n "$h" ] && echo $((16#$h))
}
# The CRL is built within a second of start; both nodes serve one.
n=200
while [ "$n" -gt 0 ] && ! { crl_get "$A2" a0 && crl_get "$B2" b0; }; do
	sleep 0.05
	n=$((n - 1))
done
num0=$(crl_number b0)
[ -n "$num0" ] && [ "$(crl_number a0)" -ge 1 ] && pass ||
	fail "the nodes serve no CRL before the revocation"
crl_has b0 "$serial" && fail "node B's CRL lists the device before its revocation" || pass
code=$(curl "${C[@]}" --cert "$DA/admin/admin.pem" --key "$DA/admin/admin.key" \
	-H 'Content-Type: application/json' -d '{"reason": "keyCompromise"}' \
	-o "$T/revoke.out" -w '%{http_code}' \
	"https://localhost:$A1/api/v1/certificates/$serial/revoke")
[ "$code" = 200 ] && pass || { fail "revoke on node A: HTTP $code"; cat "$T/revoke.out" >&2; }
# From node A's 200: node B's OCSP, and the CRL each node serves.
t0=$(date +%s%N)
t_ocsp= t_crl_a= t_crl_b=
since() { echo $((($(date +%s%N) - t0) / 1000000)); }
n=200
while [ "$n" -gt 0 ]; do
	[ -n "$t_ocsp" ] || { [ "$(ocsp_b)" = revoked ] && t_ocsp=$(since); }
	[ -n "$t_crl_b" ] || { crl_get "$B2" b1 && crl_has b1 "$serial" &&
		t_crl_b=$(since); }
	[ -n "$t_crl_a" ] || { crl_get "$A2" a1 && crl_has a1 "$serial" &&
		t_crl_a=$(since); }
	[ -n "$t_ocsp" ] && [ -n "$t_crl_a" ] && [ -n "$t_crl_b" ] && break
	sleep 0.05
	n=$((n - 1))
done
if [ -n "$t_ocsp" ]; then
	pass
	echo "node B answered revoked $t_ocsp ms after node A's 200"
else
	fail "node B's OCSP does not answer revoked within 10 s"
fi
if [ -n "$t_crl_b" ] && [ -n "$t_crl_a" ]; then
	pass
	echo "the revocation was on node B's /crl $t_crl_b ms after node A's 200 (node A's: $t_crl_a ms)"
else
	fail "the revocation is not on the CRL of node B (${t_crl_b:-no}) and A (${t_crl_a:-no}) within 10 s"
fi
# The CRL files on both nodes' disks too (what nginx's ssl_crl reads):
# the elected node writes what it builds, the other what the store holds.
crl_files_have() {
	openssl crl -inform DER -in "$1/crl/issuing.crl" -noout -text 2>/dev/null |
		grep -qi "Serial Number: *$serial\$" &&
		openssl crl -in "$1/crl/crl-chain.pem" -noout -text 2>/dev/null |
		grep -qi "Serial Number: *$serial\$"
}
n=200
while [ "$n" -gt 0 ] && ! { crl_files_have "$DA" && crl_files_have "$DB"; }; do
	sleep 0.05
	n=$((n - 1))
done
if crl_files_have "$DA" && crl_files_have "$DB"; then
	pass
	echo "the revocation was in both nodes' crl/ files $(since) ms after node A's 200"
else
	fail "the CRL files lack the revocation: node A $(crl_files_have "$DA" && echo has it || echo lacks it), node B $(crl_files_have "$DB" && echo has it || echo lacks it)"
fi
num1=$(crl_number b1)
[ -n "$num1" ] && [ "$num1" -gt "$num0" ] && pass ||
	fail "crlNumber did not increase with the revocation: $num0 then ${num1:-none}"
# Both nodes serve the store's one CRL, not one each.
[ "$(crl_number a1)" = "$num1" ] || { crl_get "$A2" a1 && crl_get "$B2" b1 &&
	[ "$(crl_number a1)" = "$(crl_number b1)" ]; } && pass ||
	fail "the nodes serve different CRLs: A $(crl_number a1), B $(crl_number b1)"
kill -0 "$PID_A" && kill -0 "$PID_B" && pass || fail "a node died"

# --- the scheduler: one node elected; another takes over after kill -9 ---
elected() { grep -a "scheduler: this node runs" "$T/serve.err" | wc -l; }
[ "$(elected)" = 1 ] && pass ||
	fail "$(elected) nodes say they run the scheduled work, want 1"
# The elected worker's supervisor is the node to kill.
wpid=$(grep -a "scheduler: this node runs" "$T/serve.err" | head -1 |
	sed -n 's/.*tessera\[\([0-9]*\)\].*/\1/p')
leader=$(ps -o ppid= -p "$wpid" 2>/dev/null | tr -d ' ')
if [ "$leader" = "$PID_A" ]; then survivor=B; else survivor=A; fi
[ "$leader" = "$PID_A" ] || [ "$leader" = "$PID_B" ] && pass ||
	fail "the elected worker $wpid belongs to neither node"
children=$(ps -o pid= --ppid "$leader" 2>/dev/null | tr -d ' ')
t0=$(date +%s%N)
kill -9 "$leader" $children 2>/dev/null
wait "$leader" 2>/dev/null
n=300
while [ "$n" -gt 0 ] && [ "$(elected)" -lt 2 ]; do
	sleep 0.05
	n=$((n - 1))
done
t1=$(date +%s%N)
if [ "$(elected)" = 2 ]; then
	pass
	echo "node $survivor took the scheduled work over $(((t1 - t0) / 1000000)) ms after kill -9"
else
	fail "no node took the scheduled work over within 15 s of kill -9"
fi
# The survivor publishes: a revocation there is on its CRL.
if [ "$survivor" = A ]; then SP1=$A1 SP2=$A2 SD=$DA; else SP1=$B1 SP2=$B2 SD=$DB; fi
S5=$(tessera secret --data "$SD" --device after-dev 2>>"$T/cli.err" | tail -1)
csr after /CN=after-dev
openssl req -in "$T/after.csr" -outform DER 2>/dev/null | base64 -w0 >"$T/after.b64"
code=$(curl "${C[@]}" -o "$T/after.p7" -w '%{http_code}' -u "after-dev:$S5" \
	-H 'Content-Type: application/pkcs10' --data-binary @"$T/after.b64" \
	"https://localhost:$SP1/.well-known/est/simpleenroll")
[ "$code" = 200 ] && pass || fail "enroll on the survivor: HTTP $code"
base64 -d "$T/after.p7" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	openssl x509 -out "$T/after.pem" 2>/dev/null
aserial=$(openssl x509 -in "$T/after.pem" -noout -serial | cut -d= -f2)
code=$(curl "${C[@]}" --cert "$DA/admin/admin.pem" --key "$DA/admin/admin.key" \
	-H 'Content-Type: application/json' -d '{"reason": "keyCompromise"}' \
	-o /dev/null -w '%{http_code}' \
	"https://localhost:$SP1/api/v1/certificates/$aserial/revoke")
[ "$code" = 200 ] && pass || fail "revoke on the survivor: HTTP $code"
n=200
on_crl=0
while [ "$n" -gt 0 ]; do
	curl -sf -o "$T/after.crl" "http://127.0.0.1:$SP2/crl/issuing.crl" &&
		openssl crl -inform DER -in "$T/after.crl" -noout -text 2>/dev/null |
		grep -qi "Serial Number: *$aserial\$" && { on_crl=1; break; }
	sleep 0.05
	n=$((n - 1))
done
[ "$on_crl" = 1 ] && pass || fail "the survivor's CRL lacks a revocation made after the takeover"
# The survivor built it: its number follows the dead leader's, never below.
num2=$(openssl crl -inform DER -in "$T/after.crl" -noout -crlnumber 2>/dev/null |
	sed -n 's/^crlNumber=0x//p')
num2=$((16#${num2:-0}))
[ "$num2" -gt "$num1" ] && pass ||
	fail "crlNumber went from $num1 (before the takeover) to $num2 (the survivor's)"
echo "crlNumbers served: $num0 before the revocation, $num1 with it, $num2 from the survivor"
[ "$(pg "SELECT max(number) FROM crls WHERE shard = -2")" -ge "$num2" ] && pass ||
	fail "the store holds a lower crlNumber than the survivor serves"
check "audit verify" tessera audit verify --data "$DA"
finish
