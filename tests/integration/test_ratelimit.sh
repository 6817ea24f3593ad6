#!/usr/bin/env bash
# Per-address rate limits over two workers: EST enrollment, POST /token
# and OCSP (both listeners) each allow their burst, then answer 429 with
# Retry-After and a message that says which limit; reads (cacerts, JWKS,
# CRL) are not limited; the bucket refills; an exempt network is never
# limited; a 429 changes nothing in the store, not even the audit.
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
policy() { # ENROLL_BURST TOKEN_BURST [EXEMPT]
	$PY -c '
import json, sys
p, eb, tb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
j = json.load(open(p))
j["rate_limits"] = {"enroll": {"per_second": 1, "burst": eb},
                    "token": {"per_second": 1, "burst": tb},
                    "ocsp": {"per_second": 1, "burst": 3},
                    "exempt": sys.argv[4:]}
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json" "$@"
}
policy 3 2
csr dev /CN=device-0001 -addext "subjectAltName=URI:urn:dev:device-0001"
check "issue a device certificate" tessera issue --data "$D" \
	--csr "$T/dev.csr" --profile device --out "$T/dev.pem"
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come up"
	finish
	exit
fi
pass

# post N PATH [curl args]: N requests on new connections (so both workers
# take some); prints the status codes, one line.
post() {
	local n=$1 path=$2 i codes=
	shift 2
	for i in $(seq 1 "$n"); do
		codes="$codes $("${CURL[@]}" -o "$T/last.body" -D "$T/last.hdr" \
			-w '%{http_code}' "$@" "$URL$path")"
	done
	echo $codes
}
before=$(db 'SELECT (SELECT count(*) FROM certificates) || "/" ||
	(SELECT count(*) FROM audit)')
# The buckets refill at 1 a second: a slow machine may let one more
# through, so the burst must be answered and a 429 must follow.
codes=$(post 5 /.well-known/est/simpleenroll \
	-H 'Content-Type: application/pkcs10' --data-binary 'not a CSR')
check "enrollment: the burst of 3, then 429 ($codes)" \
	bash -c "[[ '$codes' == '401 401 401 '*429* ]]"
check "429 says which limit" grep -q "too many enrollment requests" "$T/last.body"
check "429 carries Retry-After" grep -qi '^retry-after: [1-9]' "$T/last.hdr"
answered=$(tr ' ' '\n' <<<"$codes" | grep -c 401)
check "a 429 stores nothing, not even an audit entry" test "$(db 'SELECT
	(SELECT count(*) FROM certificates) || "/" || (SELECT count(*) FROM audit)')" = \
	"$(echo "$before" | awk -F/ -v n="$answered" '{print $1 "/" $2 + n}')"
codes=$(post 4 /token --cert "$T/dev.pem" --key "$T/dev.key" \
	-d grant_type=client_credentials)
check "tokens have their own bucket: 2, then 429 ($codes)" \
	bash -c "[[ '$codes' == '200 200 '*429* ]]"
# OCSP, on both listeners, GET and POST: one bucket, its own.
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/dev.pem" -no_nonce \
	-reqout "$T/ocsp.req" >/dev/null 2>&1
codes=$(post 2 /ocsp -H 'Content-Type: application/ocsp-request' \
	--data-binary @"$T/ocsp.req")
codes="$codes $(for i in 1 2 3; do
	curl -sS --max-time 20 -o "$T/last.body" -w '%{http_code} ' \
		-H 'Content-Type: application/ocsp-request' \
		--data-binary @"$T/ocsp.req" "http://127.0.0.1:$P2/ocsp"
done)"
check "OCSP: the burst of 3, then 429 ($codes)" \
	bash -c "[[ '$codes' == '200 200 200'*429* ]]"
check "the OCSP 429 says which limit" grep -q "too many OCSP requests" "$T/last.body"
check "reads are not limited" test "$(for i in 1 2 3 4 5; do
	"${CURL[@]}" -o /dev/null -w '%{http_code} ' "$URL/.well-known/est/cacerts"
done)" = "200 200 200 200 200 "
sleep 2.2
codes=$(post 1 /token --cert "$T/dev.pem" --key "$T/dev.key" \
	-d grant_type=client_credentials)
check "the bucket refills ($codes)" test "$codes" = 200

stop_server
policy 1 1 127.0.0.0/8 ::1/128
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come back"
	finish
	exit
fi
codes=$(post 4 /token --cert "$T/dev.pem" --key "$T/dev.key" \
	-d grant_type=client_credentials)
check "an exempt network is not limited ($codes)" test "$codes" = "200 200 200 200"
finish
