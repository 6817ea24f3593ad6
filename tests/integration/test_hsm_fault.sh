#!/usr/bin/env bash
# HSM faults. At start: a wrong PIN and a module that cannot be loaded each
# stop `tessera serve` with one clear line and a non-zero exit. While
# serving: the token goes away (p11fault, a PKCS#11 module in front of
# SoftHSMv2, fails like a removed HSM while a file exists, and comes back
# as after a power cycle: old sessions invalid, so tessera must log in
# again). Meanwhile enrollment and tokens answer 503 with a message, the
# CA certificates, the CRL, the JWKS and stored OCSP answers keep serving,
# /healthz says the HSM is unavailable, and nothing is stored. When the
# token is back the same workers serve again by themselves, without a
# restart.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }
: "${TESSERA_P11FAULT:?TESSERA_P11FAULT must point at libp11fault.so}"

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
URL=https://localhost:$P1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")
check "init" tessera init --data "$D" --url "$URL" --publish-url "$PUB"

# --- at start ---------------------------------------------------------------
# serve_fails NAME WANT [env...]: serve must exit non-zero within 30 s
# with exactly one line on stderr that is not a log line, holding WANT.
serve_fails() {
	local name=$1 want=$2 rc lines
	shift 2
	env "$@" timeout 30 "$TESSERA_BIN" serve --data "$D" \
		--listen "127.0.0.1:$P1" --publish "127.0.0.1:$P2" --workers 2 \
		>"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	lines=$(grep -vc '^[0-9-]*T[0-9:]*Z tessera\[' "$T/$name.err")
	if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
		fail "$name: serve exited $rc"
	elif [ "$lines" != 1 ] || ! grep -v '^[0-9-]*T[0-9:]*Z tessera\[' \
		"$T/$name.err" | grep -qF "$want"; then
		fail "$name: want one line with '$want', got:"
		sed 's/^/    /' "$T/$name.err" >&2
	else pass; fi
}
serve_fails wrong_pin "wrong PIN" TESSERA_HSM_PIN=not-the-pin
check "the wrong PIN is in no output" \
	bash -c "! grep -q not-the-pin '$T/wrong_pin.err' '$T/wrong_pin.out'"
cp "$D/tessera.json" "$T/tessera.json.good"
module_to() { # PATH: the PKCS#11 module tessera.json names
	/usr/bin/python3 -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["hsm"]["module"] = sys.argv[2]
json.dump(j, open(p, "w"), indent=2)' "$D/tessera.json" "$1"
}
module_to /nonexistent/libpkcs11.so
serve_fails no_module "/nonexistent/libpkcs11.so: cannot load"

# --- while serving ----------------------------------------------------------
module_to "$TESSERA_P11FAULT"
export P11FAULT_FILE=$T/hsm-away
export P11FAULT_MODULE=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hsm"]["module"])' "$T/tessera.json.good")
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come up on p11fault"
	finish
	exit
fi
pass
workers() { pgrep -P "$SERVER_PID" | sort | tr '\n' ' '; } # and the signer
W0=$(workers)

# enroll NAME ID SECRET: prints the HTTP code; the certificate in NAME.pem.
enroll() {
	csr "$1" "/CN=$2" -addext "subjectAltName=URI:urn:dev:$2"
	openssl req -in "$T/$1.csr" -outform DER 2>/dev/null | base64 -w0 |
		"${CURL[@]}" -o "$T/$1.p7" -w '%{http_code}' -u "$2:$3" \
			-H 'Content-Type: application/pkcs10' --data-binary @- \
			"$URL/.well-known/est/simpleenroll"
	base64 -d "$T/$1.p7" 2>/dev/null | openssl pkcs7 -inform DER \
		-print_certs 2>/dev/null | openssl x509 -out "$T/$1.pem" 2>/dev/null
}
token() { # prints the HTTP code; body in $T/token.json
	"${CURL[@]}" -o "$T/token.json" -w '%{http_code}' --cert "$T/dev.pem" \
		--key "$T/dev.key" -d grant_type=client_credentials "$URL/token"
}
ocsp() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/dev.pem" \
		-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -no_nonce 2>&1
}
S1=$(tessera secret --data "$D" --device device-0001 2>/dev/null | tail -1)
S2=$(tessera secret --data "$D" --device device-0002 2>/dev/null | tail -1)
S3=$(tessera secret --data "$D" --device device-0003 2>/dev/null | tail -1)
check "enroll before the fault" test "$(enroll dev device-0001 "$S1")" = 200
check "a token before the fault" test "$(token)" = 200
check "OCSP before the fault (now stored)" bash -c "$(declare -f ocsp); \
	T='$T' D='$D' PUB='$PUB' ocsp | grep -q 'dev.pem: good'"
check "healthz before" /usr/bin/python3 -c '
import json, sys, urllib.request
h = json.load(urllib.request.urlopen(sys.argv[1] + "/healthz"))
assert (h["status"], h["hsm"], h["expiring"]) == ("ok", "ok", []), h' "$PUB"
sleep 1.5 # the CRL is built on the first tick
certs0=$(db 'SELECT count(*) FROM certificates')

touch "$P11FAULT_FILE"
codes=
for i in 1 2 3 4; do codes="$codes $(token)"; done
check "tokens: 503 while the HSM is away ($codes)" test "$codes" = " 503 503 503 503"
check "503 says why" grep -q '"temporarily_unavailable".*HSM' "$T/token.json"
code=$(enroll dev2 device-0002 "$S2")
check "enrollment: 503 while the HSM is away ($code)" test "$code" = 503
check "the enrollment error says the HSM is unavailable" \
	grep -qi "HSM is unavailable\|signing the certificate failed" "$T/dev2.p7"
check "cacerts still served" "${CURL[@]}" -f -o /dev/null "$URL/.well-known/est/cacerts"
check "the CA certificate still served" curl -sSf -o /dev/null "$PUB/ca/issuing.crt"
check "the CRL still served" bash -c "curl -sSf '$PUB/crl/issuing.crl' |
	openssl crl -inform DER -noout"
check "the JWKS still served (from the store)" bash -c \
	"curl -sSf '$PUB/.well-known/jwks.json' | grep -q '\"kty\":\"EC\"'"
check "stored OCSP answers still served" bash -c "$(declare -f ocsp); \
	T='$T' D='$D' PUB='$PUB' ocsp | grep -q 'dev.pem: good'"
code=$(curl -sS -o "$T/health.json" -w '%{http_code}' "$PUB/healthz")
check "healthz: 503 ($code)" test "$code" = 503
check "healthz says the HSM is unavailable" grep -q '"hsm":"unavailable"' "$T/health.json"
check "nothing was stored" test "$(db 'SELECT count(*) FROM certificates')" = "$certs0"

# Each worker tries the token again at most once a second: a request that
# meets a worker whose last try came just before the token was back may
# get one more 503, so each is tried twice, a second apart.
rm -f "$P11FAULT_FILE"
ok=0
for i in $(seq 1 50); do
	[ "$(curl -sS -o /dev/null -w '%{http_code}' "$PUB/healthz")" = 200 ] &&
		{ ok=1; break; }
	sleep 0.2
done
check "healthz recovers by itself" test "$ok" = 1
codes=
for i in 1 2 3 4; do
	c=$(token)
	[ "$c" = 200 ] || { sleep 1.1; c=$(token); }
	codes="$codes $c"
done
check "tokens again, from every worker ($codes)" test "$codes" = " 200 200 200 200"
code=$(enroll dev3 device-0003 "$S3")
[ "$code" = 200 ] || { sleep 1.1; code=$(enroll dev3 device-0003 "$S3"); }
check "enrollment again ($code)" test "$code" = 200
code=$(enroll dev2 device-0002 "$S2")
[ "$code" = 200 ] || { sleep 1.1; code=$(enroll dev2 device-0002 "$S2"); }
check "the secret of the refused enrollment still works ($code)" \
	test "$code" = 200
check "the same workers: no restart" test "$(workers)" = "$W0"
check "the log says the HSM went and came back" \
	bash -c "grep -q 'the HSM is unavailable' '$T/serve.err' &&
		grep -q 'the HSM is back' '$T/serve.err'"
finish
