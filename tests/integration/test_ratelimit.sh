#!/usr/bin/env bash
# Per-address rate limits over two workers: EST enrollment, POST /token
# and OCSP (both listeners) each allow their burst, then answer 429 with
# Retry-After and a message that says which limit; reads (cacerts, JWKS,
# CRL) are not limited; the bucket refills; an exempt network is never
# limited; a 429 changes nothing in the store, not even the audit. Refusals (401, 403) have a
# bucket of their own on every TLS endpoint: an address refused too often
# gets 429 everywhere there, while other addresses and publication are
# served. Bursts are sent at once, so that a loaded machine cannot refill
# a bucket between them; waits are polled, with bounds.
. "$(dirname "$0")/lib.sh"
D=$T/var
PY=/usr/bin/python3
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
URL=https://localhost:$P1
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")

check "init" tessera init --data "$D" --url "$URL"
policy() { # ENROLL_BURST TOKEN_BURST REFUSAL_BURST [EXEMPT]
	$PY -c '
import json, sys
p, eb, tb, rb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
j = json.load(open(p))
j["rate_limits"] = {"enroll": {"per_second": 1, "burst": eb},
                    "token": {"per_second": 1, "burst": tb},
                    "ocsp": {"per_second": 1, "burst": 3},
                    "refusals": {"per_second": 1, "burst": rb},
                    "exempt": sys.argv[5:]}
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json" "$@"
}
policy 3 2 200
csr dev /CN=device-0001 -addext "subjectAltName=URI:urn:dev:device-0001"
check "issue a device certificate" tessera issue --data "$D" \
	--csr "$T/dev.csr" --profile device --out "$T/dev.pem"
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come up"
	finish
	exit
fi
pass

# burst N PATH [curl args]: N requests at once, each on its own
# connection (both workers take some); prints the sorted status codes.
# Run it in $(...): its wait is then for its own requests only.
burst() {
	local n=$1 path=$2 i
	shift 2
	for i in $(seq 1 "$n"); do
		"${CURL[@]}" -o "$T/b$i.body" -D "$T/b$i.hdr" -w '%{http_code}\n' \
			"$@" "$URL$path" >"$T/b$i.code" &
	done
	wait
	cat "$T"/b*.code | sort | tr '\n' ' '
	for i in $(seq 1 "$n"); do
		grep -q 429 "$T/b$i.code" && cp "$T/b$i.body" "$T/last.body" &&
			cp "$T/b$i.hdr" "$T/last.hdr"
	done
	rm -f "$T"/b*.code
}
# count CODE "CODES": how many times CODE is among CODES.
count() { tr ' ' '\n' <<<"$2" | grep -c "^$1$"; }
# until_code WANT PATH [curl args]: retry every 0.2 s for up to 20 s until
# the answer is WANT; prints the last code.
until_code() {
	local want=$1 path=$2 i code
	shift 2
	for i in $(seq 1 100); do
		code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$@" "$URL$path")
		[ "$code" = "$want" ] && break
		sleep 0.2
	done
	echo "$code"
}
before=$(db 'SELECT (SELECT count(*) FROM certificates) || "/" ||
	(SELECT count(*) FROM audit)')
# Bucket 3, refilled at 1 a second: of 20 at once, at least the burst is
# answered, and the rest (all but what refilled meanwhile) get 429.
codes=$(burst 20 /.well-known/est/simpleenroll \
	-H 'Content-Type: application/pkcs10' --data-binary 'not a CSR')
answered=$(count 401 "$codes")
check "enrollment: the burst of 3, then 429 ($codes)" \
	test "$answered" -ge 3 -a "$(count 429 "$codes")" -ge 1 -a \
	"$((answered + $(count 429 "$codes")))" = 20
check "429 says which limit" grep -q "too many enrollment requests" "$T/last.body"
check "429 carries Retry-After" grep -qi '^retry-after: [1-9]' "$T/last.hdr"
check "a 429 stores nothing, not even an audit entry" test "$(db 'SELECT
	(SELECT count(*) FROM certificates) || "/" || (SELECT count(*) FROM audit)')" = \
	"$(echo "$before" | awk -F/ -v n="$answered" '{print $1 "/" $2 + n}')"
codes=$(burst 10 /token --cert "$T/dev.pem" --key "$T/dev.key" \
	-d grant_type=client_credentials)
check "tokens have their own bucket: 2, then 429 ($codes)" \
	test "$(count 200 "$codes")" -ge 2 -a "$(count 429 "$codes")" -ge 1
# OCSP, on both listeners at once: one bucket of 3, its own.
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/dev.pem" -no_nonce \
	-reqout "$T/ocsp.req" >/dev/null 2>&1
pids=()
for i in 1 2 3 4 5; do
	curl -sS --max-time 20 -o "$T/pub$i.body" -w '%{http_code}\n' \
		-H 'Content-Type: application/ocsp-request' \
		--data-binary @"$T/ocsp.req" "http://127.0.0.1:$P2/ocsp" >"$T/pub$i.code" &
	pids+=($!)
done
codes=$(burst 5 /ocsp -H 'Content-Type: application/ocsp-request' \
	--data-binary @"$T/ocsp.req")
wait "${pids[@]}"
codes="$codes$(cat "$T"/pub*.code | tr '\n' ' ')"
check "OCSP: the burst of 3, then 429 ($codes)" \
	test "$(count 200 "$codes")" -ge 3 -a "$(count 429 "$codes")" -ge 1
check "the OCSP 429 says which limit" bash -c "grep -lq 'too many OCSP requests' '$T'/pub*.body '$T/last.body'"
check "reads are not limited" test "$(for i in 1 2 3 4 5; do
	"${CURL[@]}" -o /dev/null -w '%{http_code} ' "$URL/.well-known/est/cacerts"
done)" = "200 200 200 200 200 "
code=$(until_code 200 /token --cert "$T/dev.pem" --key "$T/dev.key" \
	-d grant_type=client_credentials)
check "the bucket refills ($code)" test "$code" = 200

# Refusals: a bucket of 5 for 401 and 403 on every TLS endpoint.
stop_server
policy 100 100 5
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come back"
	finish
	exit
fi
codes=$(burst 20 /api/v1/certificates)
check "refusals: the burst of 5, then 429 ($codes)" \
	test "$(count 401 "$codes")" -ge 5 -a "$(count 429 "$codes")" -ge 1
check "the 429 says refused requests" grep -q "too many refused requests" "$T/last.body"
# The bucket gets one refusal back a second, which a loaded machine can
# spend between the burst and the next request: refuse again until a
# cacerts follows the refusals while the bucket is still empty (bounded).
refused_then() { # PATH: its status code right after a burst of refusals
	local i code
	for i in $(seq 1 10); do
		burst 8 /api/v1/certificates >/dev/null
		code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL$1")
		[ "$code" = 429 ] && break
	done
	echo "$code"
}
code=$(refused_then /.well-known/est/cacerts)
check "a refused address gets 429 on any endpoint ($code)" test "$code" = 429
check "another address is served" test "$("${CURL[@]}" -o /dev/null -w '%{http_code}' \
	--interface 127.0.0.2 --resolve "localhost:$P1:127.0.0.1" \
	"$URL/.well-known/est/cacerts")" = 200
check "publication serves the refused address" test "$(curl -sS --max-time 20 \
	-o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/crl/issuing.crl")" = 200
code=$(until_code 200 /.well-known/est/cacerts)
check "the refusal bucket refills ($code)" test "$code" = 200

stop_server
policy 1 1 1 127.0.0.0/8 ::1/128
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come back"
	finish
	exit
fi
codes=$(burst 4 /token --cert "$T/dev.pem" --key "$T/dev.key" \
	-d grant_type=client_credentials)
check "an exempt network is not limited ($codes)" test "$codes" = "200 200 200 200 "
codes=$(burst 4 /api/v1/certificates)
check "an exempt network's refusals are not limited ($codes)" test "$codes" = "401 401 401 401 "
finish
