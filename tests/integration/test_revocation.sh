#!/usr/bin/env bash
# Revocation end to end with real clients: devices enrolled over EST, then
# `openssl ocsp` (good, revoked at once after the API's 200, reason, nonce,
# SHA-1 and SHA-256 CertIDs, a nonce-less GET answered from the pre-signed
# cache, a never-issued serial, another CA), `openssl verify -crl_check_all`
# with the published CRLs, the revocation feed, the inventory with cursor
# paging, blocking and reinstating a device, the API's 400/404/409 answers,
# the role matrix (no certificate, device, station, auditor, operator,
# admin x every admin endpoint) and an IP allow-list that excludes
# loopback. Then `tessera revoke` while serving: the OCSP responder (a new
# one signs at once, the old one is reported revoked) and the issuing CA
# (503 for EST, OCSP answered by the root, the root CRL lists it, verify
# -crl_check_all refuses a device under it). Refusals leave the store as
# it was but for audit rows; the audit chain verifies at the end.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }
ncerts() { db 'SELECT count(*) FROM certificates'; }
nrevs() { db 'SELECT count(*) FROM revocations'; }
naudit() { db 'SELECT count(*) FROM audit'; }
# audit_grows N: the audit has more than N entries within 15 s (refused
# reads reach it in aggregate, a few seconds late).
audit_grows() {
	local i
	for i in $(seq 1 150); do
		[ "$(naudit)" -gt "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")
CT=(-H 'Content-Type: application/pkcs10')
JS=(-H 'Content-Type: application/json')
# A write with nothing to say: the API takes {} (an empty POST is refused).
NB=("${JS[@]}" -d '{}')

check "init" tessera init --data "$D" --name "Revocation Test" \
	--publish-url "$PUB"
# Operator and auditor: profiles copied from the station profile, roles
# holding them, allowed from loopback.
python3 -c '
import copy, json, sys
p = sys.argv[1]
j = json.load(open(p))
for r in ("operator", "auditor"):
    prof = copy.deepcopy(j["profiles"]["station"])
    prof["description"] = r + " client certificate"
    j["profiles"][r] = prof
    j["roles"][r] = {"certificate_profiles": [r],
                     "allow": ["127.0.0.0/8", "::1/128"]}
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json"

if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass

# --- helpers ----------------------------------------------------------------
# mint ID: a one-time secret from the CLI.
mint() { tessera secret --data "$D" --device "$1" 2>>"$T/secret.err" | tail -1; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# enroll NAME ID: a new key and CSR for ID, a secret, simpleenroll; the
# certificate in $T/NAME.pem, the key in $T/NAME.key; prints the HTTP code.
enroll() {
	local name=$1 id=$2 s code
	csr "$name" "/CN=$id" -addext "subjectAltName=URI:urn:dev:$id"
	openssl req -in "$T/$name.csr" -outform DER 2>/dev/null | base64 -w0 >"$T/$name.b64"
	s=$(mint "$id")
	code=$("${CURL[@]}" -o "$T/$name.p7" -w '%{http_code}' "${CT[@]}" \
		-u "$id:$s" --data-binary @"$T/$name.b64" "$EST/simpleenroll")
	[ "$code" = 200 ] && base64 -d "$T/$name.p7" |
		openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -out "$T/$name.pem" 2>/dev/null
	echo "$code"
}
# issue NAME ID PROFILE: offline issuance; $T/NAME.pem, $T/NAME.key.
issue() {
	csr "$1" "/CN=$2" && tessera issue --data "$D" --csr "$T/$1.csr" \
		--profile "$3" --out "$T/$1.pem" >>"$T/issue.out" 2>&1
}
# api NAME METHOD PATH [curl args...]: body to $T/NAME.out, headers to
# $T/NAME.hdr; prints the status code.
api() {
	local name=$1 method=$2 path=$3
	shift 3
	"${CURL[@]}" -X "$method" -D "$T/$name.hdr" -o "$T/$name.out" \
		-w '%{http_code}' "$@" "$API/$path"
}
# expect NAME WHAT WANT GOT
expect() {
	local name=$1 what=$2 want=$3 got=$4
	# shellcheck disable=SC2254
	case $got in
	$want) pass ;;
	*)
		fail "$what: HTTP $got, want $want"
		[ -s "$T/$name.out" ] && head -c 400 "$T/$name.out" |
			sed 's/^/    /' >&2 && echo >&2
		;;
	esac
}
# jget FILE PYEXPR: evaluate PYEXPR with j = the JSON in FILE; prints the
# result ("None" for null, JSON for lists and objects). unix(v) reads a
# time given as Unix seconds or as RFC 3339 UTC ("2026-01-02T03:04:05Z"):
# the spec fixes neither, so the test takes both.
jget() {
	python3 -c '
import calendar, json, sys, time
def unix(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ"))
try:
    j = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2])
except Exception as e:
    print("<%s>" % e.__class__.__name__)
    sys.exit(0)
print(json.dumps(v) if isinstance(v, (list, dict)) else v)' "$1" "$2"
}
# jis NAME WHAT PYEXPR WANT: the value of PYEXPR over $T/NAME.out is WANT.
jis() {
	local got
	got=$(jget "$T/$1.out" "$3")
	[ "$got" = "$4" ] && pass || {
		fail "$2: $3 is '$got', want '$4'"
		head -c 600 "$T/$1.out" | sed 's/^/    /' >&2
		echo >&2
	}
}
# is_json_error NAME WHAT: the body is {"error": string, "detail": ...}.
is_json_error() {
	local got
	got=$(jget "$T/$1.out" 'isinstance(j["error"], str) and "detail" in j')
	[ "$got" = True ] && pass || {
		fail "$2: the body is not a JSON error {\"error\", \"detail\"}"
		head -c 400 "$T/$1.out" | sed 's/^/    /' >&2
		echo >&2
	}
}
# ocsp NAME CERT [openssl ocsp args...]: ask the responder (the args go
# first: a digest option must precede -cert); output in
# $T/NAME.ocsp.
ocsp() {
	local name=$1 cert=$2
	shift 2
	openssl ocsp "$@" -issuer "$D/ca/issuing.pem" -cert "$cert" -url "$PUB/ocsp" \
		-CAfile "$D/ca/chain.pem" -timeout 10 >"$T/$name.ocsp" 2>&1
}
# ocsp_says NAME WHAT CERT STATUS: "CERT: STATUS" and a verified response
# with no warning (a nonce that is not echoed is a warning).
ocsp_says() {
	local name=$1 what=$2 cert=$3 status=$4
	if grep -qxF "$cert: $status" "$T/$name.ocsp" &&
		grep -qxF "Response verify OK" "$T/$name.ocsp" &&
		! grep -qi "warning" "$T/$name.ocsp"; then
		pass
	else
		fail "$what: want '$cert: $status', verified, no warning"
		sed 's/^/    /' "$T/$name.ocsp" >&2
	fi
}
# to_pem DER PEM: a DER CRL as PEM.
crl_pem() { openssl crl -inform DER -in "$1" -out "$2" 2>/dev/null; }
crl_number() {
	openssl crl -inform "${2:-DER}" -in "$1" -noout -crlnumber 2>/dev/null |
		sed -n 's/^crlNumber=//p'
}
# crl_has FILE SERIAL [FORM]: the CRL lists SERIAL.
crl_has() {
	openssl crl -inform "${3:-DER}" -in "$1" -noout -text 2>/dev/null |
		grep -qi "Serial Number: *$2\$"
}

# --- enroll devices ----------------------------------------------------------
for i in 1 2 3; do
	code=$(enroll dev$i rv-dev-$i)
	[ "$code" = 200 ] && [ -s "$T/dev$i.pem" ] && pass ||
		fail "enroll rv-dev-$i: HTTP $code"
done
S1=$(serial_of "$T/dev1.pem")
S2=$(serial_of "$T/dev2.pem")
S3=$(serial_of "$T/dev3.pem")
openssl x509 -in "$T/dev1.pem" -noout -text >"$T/dev1.txt"
grep -qF "URI:$PUB/crl/issuing.crl" "$T/dev1.txt" && pass ||
	fail "device certificate's CRL distribution point is not $PUB/crl/issuing.crl"
grep -qF "OCSP - URI:$PUB/ocsp" "$T/dev1.txt" && pass ||
	fail "device certificate's AIA OCSP is not $PUB/ocsp"

# --- OCSP before the revocation ---------------------------------------------
ocsp good1 "$T/dev1.pem"
ocsp_says good1 "OCSP (POST, nonce) for a fresh certificate" "$T/dev1.pem" good
ocsp good1s "$T/dev1.pem" -sha256
ocsp_says good1s "OCSP with a SHA-256 CertID" "$T/dev1.pem" good
# A nonce-less GET (RFC 5019): pre-signed, cacheable. Its answer for dev1 is
# now in the responder's cache; it must change the moment dev1 is revoked.
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/dev1.pem" -no_nonce \
	-reqout "$T/get1.req" >/dev/null 2>&1
get_ocsp() { # NAME REQ: GET /ocsp/<percent-encoded base64>; prints the code
	local enc
	enc=$(base64 -w0 "$2" | sed 's/+/%2B/g; s,/,%2F,g; s/=/%3D/g')
	curl -sS --max-time 10 -D "$T/$1.hdr" -o "$T/$1.der" -w '%{http_code}' \
		"$PUB/ocsp/$enc"
}
code=$(get_ocsp get1 "$T/get1.req")
expect get1 "OCSP GET" 200 "$code"
grep -qix 'content-type: application/ocsp-response.' "$T/get1.hdr" && pass ||
	fail "OCSP GET: Content-Type is not application/ocsp-response"
# max_age HDRFILE: the Cache-Control max-age, or nothing.
max_age() { tr -d '\r' <"$1" | sed -n 's/^[Cc]ache-[Cc]ontrol:.*max-age=\([0-9]*\).*/\1/p'; }
# age_in NAME HDRFILE LO HI: max-age in LO..HI, and Expires as far ahead.
age_in() {
	local a e
	a=$(max_age "$2")
	[ -n "$a" ] && [ "$a" -ge "$3" ] && [ "$a" -le "$4" ] && pass ||
		fail "$1: Cache-Control max-age '$a', want $3..$4"
	e=$(tr -d '\r' <"$2" | sed -n 's/^[Ee]xpires: //p')
	e=$(($(date -d "$e" +%s 2>/dev/null || echo 0) - $(date +%s)))
	[ "$e" -le "$4" ] && [ "$e" -ge $(($3 - 30)) ] && pass ||
		fail "$1: Expires is $e s ahead, want about max-age ($3..$4)"
}
# The policy's default cache lifetime (300 s): a cache shows a revocation
# within minutes, not when the answer expires (an hour).
age_in "nonce-less OCSP GET" "$T/get1.hdr" 1 300
grep -qi '^expires: ' "$T/get1.hdr" && pass ||
	fail "nonce-less OCSP GET: no Expires header"
openssl ocsp -respin "$T/get1.der" -issuer "$D/ca/issuing.pem" \
	-cert "$T/dev1.pem" -CAfile "$D/ca/chain.pem" -no_nonce >"$T/get1.ocsp" 2>&1
ocsp_says get1 "OCSP GET before the revocation" "$T/dev1.pem" good
grep -q 'Next Update:' "$T/get1.ocsp" && pass ||
	fail "OCSP response without nextUpdate (RFC 5019 requires it)"
# POST by hand: status 200 and the media type.
code=$(curl -sS --max-time 10 -D "$T/post1.hdr" -o "$T/post1.der" \
	-w '%{http_code}' -H 'Content-Type: application/ocsp-request' \
	--data-binary @"$T/get1.req" "$PUB/ocsp")
expect post1 "OCSP POST with curl" 200 "$code"
grep -qix 'content-type: application/ocsp-response.' "$T/post1.hdr" && pass ||
	fail "OCSP POST: Content-Type is not application/ocsp-response"

# A never-issued serial of our CA: revoked (extended revoke), never good.
openssl ocsp -issuer "$D/ca/issuing.pem" -serial 0x5EED0000000000000000000000000001 \
	-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -timeout 10 >"$T/never.ocsp" 2>&1
grep -q '^0x5EED0000000000000000000000000001: revoked' "$T/never.ocsp" &&
	grep -qxF "Response verify OK" "$T/never.ocsp" && pass || {
	fail "OCSP for a never-issued serial: want revoked (extended revoke)"
	sed 's/^/    /' "$T/never.ocsp" >&2
}
# A certificate of another CA: unauthorized (6).
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/other-ca.key" -subj "/CN=Other CA" -days 30 \
	-addext "basicConstraints=critical,CA:TRUE" -out "$T/other-ca.pem" 2>/dev/null
csr other /CN=other-1
openssl x509 -req -in "$T/other.csr" -CA "$T/other-ca.pem" -CAkey "$T/other-ca.key" \
	-CAcreateserial -days 30 -out "$T/other.pem" 2>/dev/null
openssl ocsp -issuer "$T/other-ca.pem" -cert "$T/other.pem" -url "$PUB/ocsp" \
	-timeout 10 >"$T/other.ocsp" 2>&1
grep -qi 'unauthorized (6)' "$T/other.ocsp" && pass || {
	fail "OCSP for another CA's certificate: want responder error unauthorized (6)"
	sed 's/^/    /' "$T/other.ocsp" >&2
}

# --- the CRL before --------------------------------------------------------
code=$(curl -sS --max-time 10 -D "$T/crl0.hdr" -o "$T/crl0.der" -w '%{http_code}' \
	"$PUB/crl/issuing.crl")
expect crl0 "GET /crl/issuing.crl" 200 "$code"
grep -qix 'content-type: application/pkix-crl.' "$T/crl0.hdr" && pass ||
	fail "/crl/issuing.crl: Content-Type is not application/pkix-crl"
grep -qi '^etag: ' "$T/crl0.hdr" && pass || fail "/crl/issuing.crl: no ETag"
age_in "/crl/issuing.crl" "$T/crl0.hdr" 1 300
N0=$(crl_number "$T/crl0.der")
[ -n "$N0" ] && pass || fail "the issuing CRL has no crlNumber"
openssl crl -inform DER -in "$T/crl0.der" -CAfile "$D/ca/chain.pem" -noout \
	>"$T/crl0.verify" 2>&1 && grep -q 'verify OK' "$T/crl0.verify" && pass ||
	fail "the issuing CRL does not verify against the chain"
code=$(curl -sS --max-time 10 -D "$T/rcrl.hdr" -o "$T/root.der" -w '%{http_code}' \
	"$PUB/crl/root.crl")
expect rcrl "GET /crl/root.crl" 200 "$code"
for f in issuing.crl root.crl crl-chain.pem; do
	[ -s "$D/crl/$f" ] && pass || fail "$D/crl/$f is missing"
done

# --- revoke dev1 over the API ----------------------------------------------
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")
echo '{"reason":"keyCompromise"}' >"$T/kc.json"
code=$(api rev1 POST "certificates/$S1/revoke" "${ADM[@]}" "${JS[@]}" \
	--data-binary @"$T/kc.json")
# No sleep: OCSP must say revoked as soon as the 200 is in.
ocsp rev1 "$T/dev1.pem"
code_get=$(get_ocsp get1r "$T/get1.req")
expect rev1 "admin revokes a certificate" 200 "$code"
ocsp_says rev1 "OCSP right after the revocation" "$T/dev1.pem" revoked
grep -q 'Reason: keyCompromise' "$T/rev1.ocsp" && pass ||
	fail "OCSP after the revocation does not say Reason: keyCompromise"
expect get1r "OCSP GET right after the revocation" 200 "$code_get"
openssl ocsp -respin "$T/get1r.der" -issuer "$D/ca/issuing.pem" \
	-cert "$T/dev1.pem" -CAfile "$D/ca/chain.pem" -no_nonce >"$T/get1r.ocsp" 2>&1
ocsp_says get1r "nonce-less OCSP GET (pre-signed) right after the revocation" \
	"$T/dev1.pem" revoked
ocsp rev1s "$T/dev1.pem" -sha256
ocsp_says rev1s "OCSP with a SHA-256 CertID after the revocation" "$T/dev1.pem" revoked
jis rev1 "revoke answer" 'j["serial"].upper()' "$S1"
jis rev1 "revoke answer" 'j["device"]' rv-dev-1
jis rev1 "revoke answer" 'j["status"]' revoked
jis rev1 "revoke answer" 'j["reason"]' keyCompromise
jis rev1 "revoke answer" 'abs(unix(j["revoked_at"]) - time.time()) < 120' True
ocsp good2 "$T/dev2.pem"
ocsp_says good2 "OCSP for another device after the revocation" "$T/dev2.pem" good

# --- the CRL after ----------------------------------------------------------
# Rebuilt within a second or two; poll (10 s at most) until dev1 is on it.
ok=0
for _ in $(seq 1 100); do
	curl -sS --max-time 5 -o "$T/crl1.der" "$PUB/crl/issuing.crl" 2>/dev/null &&
		crl_has "$T/crl1.der" "$S1" && { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && pass || fail "the issuing CRL does not list $S1 within 10 s"
N1=$(crl_number "$T/crl1.der")
# (openssl prints it as 0x.. hex)
[ -n "$N1" ] && [ -n "$N0" ] && [ "$((N1))" -gt "$((N0))" ] && pass ||
	fail "crlNumber did not increase ($N0 -> $N1)"
openssl crl -inform DER -in "$T/crl1.der" -noout -text >"$T/crl1.txt" 2>&1
grep -A4 -i "Serial Number: *$S1\$" "$T/crl1.txt" | grep -q 'Key Compromise' &&
	pass || fail "the CRL entry for $S1 lacks reason Key Compromise"
grep -q 'Next Update:' "$T/crl1.txt" && pass || fail "the CRL has no nextUpdate"
grep -q 'X509v3 Authority Key Identifier' "$T/crl1.txt" && pass ||
	fail "the CRL has no Authority Key Identifier"
crl_pem "$T/crl1.der" "$T/crl1.pem"
crl_pem "$T/root.der" "$T/root.pem"
openssl verify -crl_check_all -CAfile "$D/ca/chain.pem" -CRLfile "$T/crl1.pem" \
	-CRLfile "$T/root.pem" "$T/dev1.pem" >"$T/v1.out" 2>&1 &&
	fail "openssl verify -crl_check_all accepts the revoked certificate" || {
	grep -q 'certificate revoked' "$T/v1.out" && pass || {
		fail "openssl verify refuses the revoked certificate, but not as revoked"
		sed 's/^/    /' "$T/v1.out" >&2
	}
}
check "openssl verify -crl_check_all accepts a valid certificate" \
	openssl verify -crl_check_all -CAfile "$D/ca/chain.pem" -CRLfile "$T/crl1.pem" \
	-CRLfile "$T/root.pem" "$T/dev2.pem"
# The files gateways read: same content, DER and PEM chain.
ok=0
for _ in $(seq 1 50); do
	crl_has "$D/crl/issuing.crl" "$S1" && crl_has "$D/crl/crl-chain.pem" "$S1" PEM &&
		{ ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && pass || fail "$D/crl/issuing.crl or crl-chain.pem does not list $S1"
n=$(grep -c -- '-----BEGIN X509 CRL-----' "$D/crl/crl-chain.pem" 2>/dev/null)
[ "$n" = 2 ] && pass || fail "crl-chain.pem holds $n CRLs, want 2 (issuing, root)"
# openssl reads only the first CRL of a -CRLfile: split it.
awk '/BEGIN X509 CRL/ { n++ } { print > (out n ".pem") }' out="$T/chain-crl" \
	"$D/crl/crl-chain.pem"
openssl crl -in "$T/chain-crl1.pem" -noout -issuer 2>/dev/null |
	grep -qF "$(openssl x509 -in "$D/ca/issuing.pem" -noout -subject | sed 's/^subject=//')" &&
	pass || fail "crl-chain.pem does not start with the issuing CA's CRL"
check "the CRLs of crl-chain.pem accept a valid certificate" \
	openssl verify -crl_check_all -CAfile "$D/ca/chain.pem" \
	-CRLfile "$T/chain-crl1.pem" -CRLfile "$T/chain-crl2.pem" "$T/dev2.pem"

# --- the feed ----------------------------------------------------------------
code=$(api feed0 GET "revocations?since=0" "${ADM[@]}")
expect feed0 "GET revocations?since=0" 200 "$code"
jis feed0 "feed since 0" "[r['serial'].upper() for r in j['revocations']] == ['$S1']" True
jis feed0 "feed since 0" "j['revocations'][0]['device']" rv-dev-1
jis feed0 "feed since 0" "j['revocations'][0]['reason']" keyCompromise
jis feed0 "feed since 0" "j['last_seq'] == j['revocations'][-1]['seq']" True
jis feed0 "feed since 0" "abs(unix(j['revocations'][0]['time']) - time.time()) < 120" True
L=$(jget "$T/feed0.out" 'j["last_seq"]')
code=$(api feed1 GET "revocations?since=$L" "${ADM[@]}")
expect feed1 "GET revocations?since=last_seq" 200 "$code"
jis feed1 "feed since last_seq" 'len(j["revocations"])' 0
jis feed1 "feed since last_seq" 'j["last_seq"]' "$L"

# --- inventory ----------------------------------------------------------------
code=$(api inv1 GET "certificates?status=revoked" "${ADM[@]}")
expect inv1 "GET certificates?status=revoked" 200 "$code"
jis inv1 "revoked inventory" "[c['serial'].upper() for c in j['certificates']] == ['$S1']" True
jis inv1 "revoked inventory" "j['certificates'][0]['reason']" keyCompromise
jis inv1 "revoked inventory" "abs(unix(j['certificates'][0]['revoked_at']) - time.time()) < 120" True
jis inv1 "revoked inventory" "j['next_cursor']" None
code=$(api inv2 GET "certificates?device=rv-dev-2" "${ADM[@]}")
expect inv2 "GET certificates?device=rv-dev-2" 200 "$code"
jis inv2 "inventory of rv-dev-2" "[(c['serial'].upper(), c['status'], c['profile']) for c in j['certificates']] == [('$S2', 'valid', 'device')]" True
jis inv2 "inventory of rv-dev-2" "'revoked_at' in j['certificates'][0] or 'reason' in j['certificates'][0]" False
jis inv2 "inventory of rv-dev-2" "set(['serial','device','profile','subject','status','not_before','not_after']) <= set(j['certificates'][0])" True
code=$(api one1 GET "certificates/$S1" "${ADM[@]}")
expect one1 "GET certificates/{serial}" 200 "$code"
jis one1 "one certificate" 'j["status"]' revoked
jis one1 "one certificate" 'j["reason"]' keyCompromise
jget "$T/one1.out" 'j["pem"]' >"$T/one1.pem"
cmp -s <(openssl x509 -in "$T/one1.pem" -outform DER 2>/dev/null) \
	<(openssl x509 -in "$T/dev1.pem" -outform DER) && pass ||
	fail "GET certificates/{serial}: pem is not the issued certificate"
code=$(api devinfo1 GET "devices/rv-dev-1" "${ADM[@]}")
expect devinfo1 "GET devices/rv-dev-1" 200 "$code"
jis devinfo1 "device rv-dev-1" '[j["device"], j["status"], j["certificates"], j["valid"]]' \
	'["rv-dev-1", "active", 1, 0]'
nb=$(openssl x509 -in "$T/dev2.pem" -noout -enddate | cut -d= -f2)
na=$(date -d "$nb" +%s)
code=$(api exp1 GET "certificates?expiring_before=$((na + 1))&device=rv-dev-2" "${ADM[@]}")
expect exp1 "GET certificates?expiring_before=notAfter+1" 200 "$code"
jis exp1 "expiring_before notAfter+1" 'len(j["certificates"])' 1
jis exp1 "not_after is the certificate's notAfter" 'unix(j["certificates"][0]["not_after"])' "$na"
code=$(api exp2 GET "certificates?expiring_before=$((na - 1))&device=rv-dev-2" "${ADM[@]}")
expect exp2 "GET certificates?expiring_before=notAfter-1" 200 "$code"
jis exp2 "expiring_before notAfter-1" 'len(j["certificates"])' 0

# --- a device revoked and blocked; paging over its 5 certificates -------------
PAGE=()
for i in 1 2 3 4 5; do
	issue pg$i rv-page device && PAGE+=("$(serial_of "$T/pg$i.pem")") ||
		fail "issue rv-page certificate $i"
done
code=$(api pgall GET "certificates?device=rv-page&limit=2" "${ADM[@]}")
expect pgall "GET certificates?device=rv-page&limit=2" 200 "$code"
jis pgall "first page (limit=2)" 'len(j["certificates"])' 2
echo '{"reason":"cessationOfOperation"}' >"$T/cess.json"
# A secret minted before the block, to try after it.
PRE_SECRET=$(mint rv-page)
code=$(api drev POST "devices/rv-page/revoke" "${ADM[@]}" "${JS[@]}" \
	--data-binary @"$T/cess.json")
expect drev "admin revokes device rv-page" 200 "$code"
jis drev "device revoke answer" '[j["device"], j["revoked"], j["status"]]' \
	'["rv-page", 5, "blocked"]'
for i in 1 5; do
	ocsp pgo$i "$T/pg$i.pem"
	ocsp_says pgo$i "OCSP for rv-page certificate $i after the device revoke" \
		"$T/pg$i.pem" revoked
done
# Walk status=revoked&device=rv-page with limit=2: 2, 2, 1, then null.
cursor=
got=()
sizes=
for page in 1 2 3 4; do
	q="certificates?status=revoked&device=rv-page&limit=2"
	[ -n "$cursor" ] && q="$q&cursor=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$cursor")"
	code=$(api pg$page GET "$q" "${ADM[@]}")
	expect pg$page "inventory page $page" 200 "$code"
	[ "$code" = 200 ] || break
	sizes="$sizes$(jget "$T/pg$page.out" 'len(j["certificates"])')"
	while read -r s; do got+=("$s"); done < <(jget "$T/pg$page.out" \
		'"\n".join(c["serial"].upper() + " " + c["status"] + " " + c["reason"] for c in j["certificates"])')
	cursor=$(jget "$T/pg$page.out" 'j["next_cursor"]')
	[ "$cursor" = None ] && break
done
[ "$sizes" = 221 ] && [ "$cursor" = None ] && pass ||
	fail "paging 5 revoked certificates with limit=2: page sizes '$sizes', last cursor '$cursor' (want 221, None)"
want=$(printf '%s revoked cessationOfOperation\n' "${PAGE[@]}" | sort)
[ "$(printf '%s\n' "${got[@]}" | sort)" = "$want" ] && pass || {
	fail "paging: the pages do not hold exactly rv-page's 5 revoked certificates"
	printf '    got %s\n' "${got[@]}" >&2
}
n=0
cursor=
for page in 1 2 3 4 5; do
	q="certificates?status=revoked&limit=2"
	[ -n "$cursor" ] && q="$q&cursor=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$cursor")"
	api pgr GET "$q" "${ADM[@]}" >/dev/null
	n=$((n + $(jget "$T/pgr.out" 'len([c for c in j["certificates"] if c["status"] == "revoked"])')))
	cursor=$(jget "$T/pgr.out" 'j["next_cursor"]')
	[ "$cursor" = None ] && break
done
[ "$n" = 6 ] && [ "$cursor" = None ] && pass ||
	fail "status=revoked&limit=2 over all devices: $n certificates, want 6"
code=$(api dinfo GET "devices/rv-page" "${ADM[@]}")
jis dinfo "blocked device" '[j["status"], j["certificates"], j["valid"]]' '["blocked", 5, 0]'

# Blocked: no new secret is minted, and one minted before enrolls nothing:
# the revocation cancelled it (401, as a used one).
before=$(ncerts)
refuse "a secret for a blocked device" "is blocked" \
	tessera secret --data "$D" --device rv-page
csr blk "/CN=rv-page" -addext "subjectAltName=URI:urn:dev:rv-page"
openssl req -in "$T/blk.csr" -outform DER 2>/dev/null | base64 -w0 >"$T/blk.b64"
code=$("${CURL[@]}" -o "$T/blk.p7" -w '%{http_code}' "${CT[@]}" \
	-u "rv-page:$PRE_SECRET" --data-binary @"$T/blk.b64" "$EST/simpleenroll")
[ "$code" = 401 ] && pass || fail "simpleenroll for a blocked device with a secret minted before: HTTP $code, want 401"
n=$(db "SELECT count(*) FROM enrollment_secrets WHERE device_id = 'rv-page' AND cancelled_at IS NOT NULL")
[ "${n:-0}" -ge 1 ] && pass || fail "revoking rv-page cancelled none of its secrets"
[ "$(ncerts)" = "$before" ] && pass || fail "a blocked device's enrollment changed the store"
# Reinstate (admin), then it enrolls again.
# From the service's own origin (a browser on tessera's URL): taken.
code=$(api rein POST "devices/rv-page/reinstate" "${ADM[@]}" "${NB[@]}" \
	-H "Origin: $(jq -r .url "$D/tessera.json")" -H 'Sec-Fetch-Site: same-origin')
expect rein "admin reinstates rv-page" 200 "$code"
jis rein "reinstate answer" '[j["device"], j["status"]]' '["rv-page", "active"]'
code=$(enroll unblk rv-page)
[ "$code" = 200 ] && pass || fail "simpleenroll after reinstate: HTTP $code, want 200"
code=$(api dinfo2 GET "devices/rv-page" "${ADM[@]}")
jis dinfo2 "reinstated device" '[j["status"], j["certificates"], j["valid"]]' '["active", 6, 1]'
# The certificates revoked with the device stay revoked.
ocsp pgo1b "$T/pg1.pem"
ocsp_says pgo1b "OCSP for a revoked certificate after reinstate" "$T/pg1.pem" revoked

# --- 400/404/409 ------------------------------------------------------------
# refused NAME WHAT WANT METHOD PATH [curl args]: the answer is WANT, a JSON
# error, and neither certificates nor revocations changed.
refused() {
	local name=$1 what=$2 want=$3 c0 r0 code
	shift 3
	c0=$(ncerts)
	r0=$(nrevs)
	code=$(api "$name" "$@")
	expect "$name" "$what" "$want" "$code"
	is_json_error "$name" "$what"
	[ "$(ncerts)" = "$c0" ] && [ "$(nrevs)" = "$r0" ] && pass ||
		fail "$what: the store changed (certificates $c0 -> $(ncerts), revocations $r0 -> $(nrevs))"
}
refused e404 "revoke an unknown serial" 404 POST \
	"certificates/0DEAD0000000000000000000000000BEEF/revoke" "${ADM[@]}" "${JS[@]}" \
	--data-binary @"$T/kc.json"
refused e409 "revoke a revoked certificate" 409 POST "certificates/$S1/revoke" \
	"${ADM[@]}" "${JS[@]}" --data-binary @"$T/kc.json"
echo '{"reason":"fellInTheLake"}' >"$T/bad.json"
refused e400a "revoke with an unknown reason name" 400 POST "certificates/$S3/revoke" \
	"${ADM[@]}" "${JS[@]}" --data-binary @"$T/bad.json"
echo '{"reason":"keyCompromise","colour":"blue"}' >"$T/key.json"
refused e400b "revoke with an unknown JSON key" 400 POST "certificates/$S3/revoke" \
	"${ADM[@]}" "${JS[@]}" --data-binary @"$T/key.json"
grep -qF colour "$T/e400b.out" && pass || fail "unknown JSON key: the error does not name 'colour'"
printf '{"reason":' >"$T/trunc.json"
refused e400c "revoke with malformed JSON" 400 POST "certificates/$S3/revoke" \
	"${ADM[@]}" "${JS[@]}" --data-binary @"$T/trunc.json"
refused e404b "GET an unknown certificate" 404 GET \
	"certificates/0DEAD0000000000000000000000000BEEF" "${ADM[@]}"
refused e404c "GET an unknown device" 404 GET "devices/no-such-device" "${ADM[@]}"
# An id that never enrolled is blocked all the same (the block may come
# first); a second time there is nothing left to do.
code=$(api e200d POST "devices/no-such-device/revoke" "${ADM[@]}" "${NB[@]}")
expect e200d "revoke an id that never enrolled" 200 "$code"
jis e200d "its answer" '[j["device"], j["revoked"], j["status"]]' '["no-such-device", 0, "blocked"]'
refused e409d "revoke it again" 409 POST "devices/no-such-device/revoke" "${ADM[@]}" "${NB[@]}"
refused e400e "inventory with status=bogus" 400 GET "certificates?status=bogus" "${ADM[@]}"
refused e400f "inventory with limit=-1" 400 GET "certificates?limit=-1" "${ADM[@]}"
refused e400g "inventory with a forged cursor" 400 GET "certificates?cursor=%21%21nonsense" "${ADM[@]}"
ocsp s3ok "$T/dev3.pem"
ocsp_says s3ok "OCSP for rv-dev-3 after refused revocations" "$T/dev3.pem" good
# {}: reason unspecified, which the CRL leaves out (RFC 5280 §5.3.1).
code=$(api nobody POST "certificates/$S3/revoke" "${ADM[@]}" "${NB[@]}")
expect nobody "revoke with {}" 200 "$code"
jis nobody "revoke with {}" 'j["reason"]' unspecified
# ... and its CRL entry carries no reasonCode (RFC 5280 §5.3.1).
ok=0
for _ in $(seq 1 100); do
	curl -sS --max-time 5 -o "$T/crl3.der" "$PUB/crl/issuing.crl" 2>/dev/null &&
		crl_has "$T/crl3.der" "$S3" && { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && pass || fail "the issuing CRL does not list $S3 within 10 s"
openssl crl -inform DER -in "$T/crl3.der" -noout -text 2>/dev/null |
	awk -v s="$S3" 'toupper($0) ~ "SERIAL NUMBER: *" s "$" { on = 1; next }
		/Serial Number:/ { on = 0 } on' >"$T/crl3.entry"
[ -s "$T/crl3.entry" ] && ! grep -q 'Reason Code' "$T/crl3.entry" && pass ||
	fail "the CRL entry of a certificate revoked as unspecified has a reasonCode (or is missing)"

# --- the role matrix ----------------------------------------------------------
issue sta rv-station-1 station || fail "issue a station certificate"
issue aud rv-auditor-1 auditor || fail "issue an auditor certificate"
issue opr rv-operator-1 operator || fail "issue an operator certificate"
# Targets: rv-m-keep is never revoked (the refused calls aim at it); every
# allowed revocation gets a certificate or device of its own.
issue keep rv-m-keep device || fail "issue rv-m-keep"
KEEP=$(serial_of "$T/keep.pem")
for r in admin operator; do
	issue tc-$r rv-mc-$r device || fail "issue rv-mc-$r"
	issue td-$r rv-md-$r device || fail "issue rv-md-$r"
done
declare -A who
who[none]=""
who[device]="--cert $T/dev2.pem --key $T/dev2.key"
who[station]="--cert $T/sta.pem --key $T/sta.key"
who[auditor]="--cert $T/aud.pem --key $T/aud.key"
who[operator]="--cert $T/opr.pem --key $T/opr.key"
who[admin]="--cert $D/admin/admin.pem --key $D/admin/admin.key"
# allowed ENDPOINT ROLE: yes when the role may.
allowed() {
	case "$1:$2" in
	revoke:admin | revoke:operator | devrevoke:admin | devrevoke:operator) return 0 ;;
	reinstate:admin) return 0 ;;
	list:admin | list:operator | list:auditor) return 0 ;;
	get:admin | get:operator | get:auditor) return 0 ;;
	device:admin | device:operator | device:auditor) return 0 ;;
	feed:admin | feed:operator | feed:auditor | feed:device) return 0 ;;
	audit:admin | audit:auditor) return 0 ;;
	secrets:admin | secrets:station) return 0 ;;
	esac
	return 1
}
echo '{"device":"rv-m-new","ttl":600}' >"$T/sec.json"
# Reinstate: operator and the rest are refused on rv-md-operator (blocked by
# the operator before); the admin reinstates rv-md-admin.
for role in none device station auditor operator admin; do
	# shellcheck disable=SC2206
	cert=(${who[$role]})
	for ep in revoke devrevoke reinstate list get device feed audit secrets; do
		if allowed "$ep" "$role"; then
			want=200
			[ "$ep" = secrets ] && want=201
			tc=$(serial_of "$T/tc-$role.pem" 2>/dev/null)
			td=rv-md-$role
		else
			want=403
			[ "$role" = none ] && want=401
			tc=$KEEP
			td=rv-m-keep
		fi
		[ "$ep" = reinstate ] && ! allowed reinstate "$role" && td=rv-md-operator
		case $ep in
		revoke) args=(POST "certificates/$tc/revoke" "${JS[@]}" --data-binary @"$T/kc.json") ;;
		devrevoke) args=(POST "devices/$td/revoke" "${NB[@]}") ;;
		reinstate) args=(POST "devices/$td/reinstate" "${NB[@]}") ;;
		list) args=(GET "certificates?limit=2") ;;
		get) args=(GET "certificates/$S2") ;;
		device) args=(GET "devices/rv-dev-2") ;;
		feed) args=(GET "revocations?since=0") ;;
		audit) args=(GET "audit?since=0&limit=5") ;;
		secrets) args=(POST "enrollment-secrets" "${JS[@]}" --data-binary @"$T/sec.json") ;;
		esac
		c0=$(ncerts)
		r0=$(nrevs)
		a0=$(naudit)
		s0=$(db 'SELECT count(*) FROM enrollment_secrets')
		b0=$(db "SELECT count(*) FROM devices WHERE status = 'blocked'")
		name=m-$role-$ep
		code=$(api "$name" "${args[@]}" "${cert[@]}")
		expect "$name" "role $role, $ep (${args[0]} ${args[1]})" "$want" "$code"
		if [ "$want" != 200 ] && [ "$want" != 201 ]; then
			is_json_error "$name" "role $role, $ep"
			if [ "$(ncerts)/$(nrevs)/$(db 'SELECT count(*) FROM enrollment_secrets')/$(db "SELECT count(*) FROM devices WHERE status = 'blocked'")" = "$c0/$r0/$s0/$b0" ]; then
				pass
			else
				fail "role $role, $ep refused but the store changed"
			fi
			# A 403 names a principal and is audited; a refused
			# read within a few seconds, counted with others like
			# it (one entry, not one fsync each).
			if [ "$want" = 403 ]; then
				audit_grows "$a0" && pass ||
					fail "role $role, $ep: the refusal is not in the audit"
			fi
		fi
	done
	if [ "$role" = admin ] || [ "$role" = operator ]; then
		ocsp m-$role "$T/tc-$role.pem"
		ocsp_says m-$role "OCSP after role $role revoked its target" "$T/tc-$role.pem" revoked
	fi
done
ocsp keep "$T/keep.pem"
ocsp_says keep "OCSP for the target of every refused revocation" "$T/keep.pem" good
jis m-device-feed "feed as a device" 'j["revocations"][0]["serial"].upper()' "$S1"
jis m-auditor-audit "audit as an auditor" 'sorted(j["entries"][0])' \
	'["action", "actor", "detail", "object", "seq", "time"]'
jis m-auditor-audit "audit?limit=5" 'len(j["entries"])' 5
n=$(db "SELECT count(*) FROM audit WHERE instr(actor, 'rv-operator-1') > 0 AND instr(object, '$(serial_of "$T/tc-operator.pem")') > 0")
[ "${n:-0}" -ge 1 ] && pass || fail "the operator's revocation is not audited with the operator as actor"
# The audit feed pages by seq.
A=$(jget "$T/m-auditor-audit.out" 'j["entries"][-1]["seq"]')
code=$(api aud2 GET "audit?since=$A&limit=3" "${ADM[@]}")
jis aud2 "audit?since=SEQ" "all(e['seq'] > $A for e in j['entries']) and len(j['entries']) == 3" True

# --- an allow-list that excludes loopback --------------------------------------
stop_server
python3 -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["roles"]["admin"]["allow"] = ["10.0.0.0/8"]
# Cache lifetimes from the policy: a short CRL one, and an OCSP one past
# the answers nextUpdate (an hour), which caps it.
j["crl"]["cache_seconds"] = 42
j["ocsp"]["cache_seconds"] = 86400
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json"
if start_server "$D" "$P1" "$P2"; then
	pass
	curl -sS --max-time 10 -D "$T/crl9.hdr" -o /dev/null "$PUB/crl/issuing.crl"
	age_in "/crl/issuing.crl with crl.cache_seconds 42" "$T/crl9.hdr" 1 42
	get_ocsp get9 "$T/get1.req" >/dev/null
	age_in "OCSP with ocsp.cache_seconds past nextUpdate" "$T/get9.hdr" 300 3600
	c0=$(ncerts)
	r0=$(nrevs)
	code=$(api al1 GET "certificates?limit=1" "${ADM[@]}")
	expect al1 "admin from loopback, admin allowed from 10.0.0.0/8 only" 403 "$code"
	is_json_error al1 "allow-list refusal"
	code=$(api al2 POST "certificates/$S2/revoke" "${ADM[@]}" "${NB[@]}")
	expect al2 "admin revoke from loopback outside the allow-list" 403 "$code"
	code=$(api al3 POST "enrollment-secrets" "${ADM[@]}" "${JS[@]}" --data-binary @"$T/sec.json")
	expect al3 "admin enrollment-secrets outside the allow-list" 403 "$code"
	[ "$(ncerts)/$(nrevs)" = "$c0/$r0" ] && pass ||
		fail "refusals by the allow-list changed the store"
	code=$(api al4 GET "certificates?limit=1" ${who[operator]})
	expect al4 "operator from loopback (its allow-list has it)" 200 "$code"
	# expiring_before takes RFC 3339, the form the API writes times in.
	code=$(api al5 GET "certificates?expiring_before=2999-01-01T00:00:00Z&limit=1" ${who[operator]})
	expect al5 "expiring_before as RFC 3339" 200 "$code"
	grep -q '"serial"' "$T/al5.out" && pass || fail "expiring_before=2999 listed nothing"
	code=$(api al6 GET "certificates?expiring_before=2001-01-01T00:00:00Z" ${who[operator]})
	grep -q '"certificates":\[\]' "$T/al6.out" && pass || fail "expiring_before=2001 listed certificates"
	# A call without any certificate is refused (401) and audited too.
	a0=$(db "select count(*) from audit where action = 'refuse' and actor like 'anonymous%'")
	code=$(api al7 GET "certificates?limit=1")
	expect al7 "API without a client certificate" 401 "$code"
	for _ in $(seq 1 150); do
		a1=$(db "select count(*) from audit where action = 'refuse' and actor like 'anonymous%'")
		[ "$a1" -gt "$a0" ] && break
		sleep 0.1
	done
	[ "$a1" -gt "$a0" ] && pass || fail "a 401 of the API was not audited within 15 s"
	# Refused reads in a burst: counted, one entry per actor and reason.
	a0=$(naudit)
	for _ in 1 2 3 4 5 6; do
		"${CURL[@]}" -o /dev/null "$API/certificates?limit=1"
	done
	# Each worker writes its count within a few seconds.
	for _ in $(seq 1 150); do
		n=$(db "select count(*) from audit where seq > $a0 and action = 'refuse' and object = 'api'")
		c=$(db "select detail from audit where seq > $a0 and action = 'refuse' and object = 'api'" |
			sed -n 's/^\([0-9]*\) times in .*/\1/p' | paste -sd+ | bc)
		[ "${c:-0}" -ge 6 ] && break
		sleep 0.1
	done
	[ "${c:-0}" = 6 ] && [ "$n" -lt 6 ] && pass ||
		fail "6 refused reads: $n audit entries counting ${c:-0}, want fewer entries counting 6"
	ocsp al "$T/dev2.pem"
	ocsp_says al "OCSP for rv-dev-2 after the allow-list refusals" "$T/dev2.pem" good
else
	fail "server did not come back with the admin allow-list"
	tail -5 "$T/serve.err" | sed 's/^/    /' >&2
fi
stop_server

# --- the OCSP responder, then the issuing CA, revoked (tessera revoke) -------
if start_server "$D" "$P1" "$P2"; then
	pass
	old=$(serial_of "$D/ca/ocsp.pem")
	check "revoke the OCSP responder (CLI, while serving)" \
		tessera revoke --data "$D" --serial "$old" --reason keyCompromise
	new=$(serial_of "$D/ca/ocsp.pem")
	[ -n "$new" ] && [ "$new" != "$old" ] && pass ||
		fail "the responder certificate was not replaced ($old -> $new)"
	ocsp rsp "$T/dev2.pem" -respout "$T/rsp.der"
	ocsp_says rsp "OCSP after the responder's revocation" "$T/dev2.pem" good
	check "signed by the new responder, not the revoked one" python3 -c '
import sys
from cryptography.x509 import ocsp
r = ocsp.load_der_ocsp_response(open(sys.argv[1], "rb").read())
assert "%X" % r.certificates[0].serial_number == sys.argv[2].lstrip("0"), r.certificates[0].serial_number' \
		"$T/rsp.der" "$new"
	openssl ocsp -issuer "$D/ca/issuing.pem" -serial "0x$old" -url "$PUB/ocsp" \
		-CAfile "$D/ca/chain.pem" -timeout 10 >"$T/rsp2.ocsp" 2>&1
	grep -q "0x$old: revoked" "$T/rsp2.ocsp" && pass ||
		fail "the old responder is not reported revoked"

	iss=$(serial_of "$D/ca/issuing.pem")
	refuse "keyCompromise is no reason for a CA" "use cACompromise" \
		tessera revoke --data "$D" --serial "$iss" --reason keyCompromise
	check "revoke the issuing CA (cACompromise)" \
		tessera revoke --data "$D" --serial "$iss" --reason cACompromise
	c0=$(ncerts)
	code=$(enroll cc1 rv-after-ca)
	[ "$code" = 503 ] && grep -q "issuing CA (serial $iss) was revoked" "$T/cc1.p7" &&
		pass || fail "EST under a revoked issuing CA: HTTP $code, want 503"
	[ "$(ncerts)" = "$c0" ] && pass || fail "a certificate was issued under a revoked CA"
	# Nor is a device token vouched for under it.
	code=$("${CURL[@]}" -o "$T/cc-token.out" -w '%{http_code}' \
		--cert "$T/dev2.pem" --key "$T/dev2.key" \
		-d grant_type=client_credentials "https://localhost:$P1/token")
	[ "$code" = 503 ] && grep -q "was revoked" "$T/cc-token.out" && pass ||
		fail "a token under a revoked issuing CA: HTTP $code, want 503"
	openssl ocsp -issuer "$D/ca/root.pem" -cert "$D/ca/issuing.pem" \
		-url "$PUB/ocsp" -CAfile "$D/ca/root.pem" -timeout 10 \
		>"$T/ca.ocsp" 2>&1
	grep -q "issuing.pem: revoked" "$T/ca.ocsp" &&
		grep -q "Response verify OK" "$T/ca.ocsp" && pass ||
		fail "OCSP for the issuing CA, answered by the root"
	n=300
	while [ "$n" -gt 0 ]; do
		curl -sf "$PUB/crl/root.crl" | openssl crl -inform DER -noout -text 2>/dev/null |
			grep -q "Serial Number: $iss" && break
		sleep 0.1
		n=$((n - 1))
	done
	[ "$n" -gt 0 ] && pass || fail "the issuing CA is not on the root CRL within 30 s"
	openssl verify -crl_check_all -CAfile "$D/ca/chain.pem" \
		-CRLfile "$D/crl/crl-chain.pem" "$T/dev2.pem" >"$T/cc.verify" 2>&1
	grep -q "certificate revoked" "$T/cc.verify" && pass ||
		fail "a device under the revoked issuing CA still verifies"
else
	fail "server did not come back for the CA revocations"
fi
stop_server

check "audit verify" tessera audit verify --data "$D"
finish
