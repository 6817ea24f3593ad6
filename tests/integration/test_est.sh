#!/usr/bin/env bash
# EST (RFC 7030, RFC 8951) end to end with curl and openssl: cacerts,
# csrattrs, simpleenroll with one-time secrets, simplereenroll over mTLS, a
# station enrolling 100 devices on one keep-alive connection, the secrets
# API, serverkeygen, malformed and hostile requests, IDevID bootstrap,
# channel binding (est_pop: tls-unique and tls-exporter). Every refusal
# must leave the certificates table unchanged; the audit chain must verify.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }
ncerts() { db 'SELECT count(*) FROM certificates'; }

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")
CT=(-H 'Content-Type: application/pkcs10')

check "init" tessera init --data "$D" --name "EST Test"
# Narrow the station role's device_pattern to st-* so that a device id the
# profile accepts can still be outside the role's pattern.
python3 -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["roles"]["station"]["device_pattern"] = "^st-[A-Za-z0-9._:-]{1,60}$"
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json"

if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass

# der NAME: $T/NAME.b64 (one line) and $T/NAME.b64w (76 columns) from
# $T/NAME.csr.
der() {
	openssl req -in "$T/$1.csr" -outform DER -out "$T/$1.der" &&
		base64 -w0 "$T/$1.der" >"$T/$1.b64" &&
		base64 -w76 "$T/$1.der" >"$T/$1.b64w"
}
# mint ID [PROFILE]: a one-time secret from the CLI.
mint() {
	tessera secret --data "$D" --device "$1" ${2:+--profile "$2"} \
		2>>"$T/secret.err" | tail -1
}
# post URL BODYFILE NAME [curl args...]: POST, headers to $T/NAME.hdr, body
# to $T/NAME.out; prints the status code.
post() {
	local url=$1 body=$2 name=$3
	shift 3
	"${CURL[@]}" -D "$T/$name.hdr" -o "$T/$name.out" -w '%{http_code}' \
		"$@" --data-binary @"$body" "$url"
}
# first_cert NAME: the first certificate of the certs-only $T/NAME.out,
# PEM in $T/NAME.pem.
first_cert() {
	base64 -d "$T/$1.out" | openssl pkcs7 -inform DER -print_certs |
		openssl x509 -out "$T/$1.pem"
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
has_header() { grep -qi "^$2" "$T/$1.hdr"; }
# expect NAME WHAT WANT GOT: pass when WANT matches GOT (a glob), else fail
# with the response body.
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
# body_says NAME WHAT TEXT: the response body holds TEXT.
body_says() {
	grep -qiF -- "$3" "$T/$1.out" && pass || {
		fail "$2: body lacks '$3'"
		head -c 400 "$T/$1.out" | sed 's/^/    /' >&2
		echo >&2
	}
}
# audit_says WHAT TEXT: a 'refuse' audit entry's detail holds TEXT. The
# reasons a secret failed go to the audit only: the 401 body is the same
# for all of them, so that it tells an outsider nothing about a device.
audit_says() {
	local n
	n=$(db "SELECT count(*) FROM audit WHERE action = 'refuse' AND instr(detail, '$2') > 0")
	[ "${n:-0}" -ge 1 ] && pass || fail "$1: no refusal in the audit says '$2'"
}
# refused NAME WHAT WANT [post args...]: a refusal (status WANT, a glob)
# that leaves the certificates table as it was.
refused() {
	local name=$1 what=$2 want=$3 before after code
	shift 3
	before=$(ncerts)
	code=$(post "$@")
	after=$(ncerts)
	expect "$name" "$what" "$want" "$code"
	[ "$before" = "$after" ] && pass ||
		fail "$what: store changed ($before -> $after certificates)"
}

# --- cacerts ---------------------------------------------------------------
code=$("${CURL[@]}" -D "$T/cacerts.hdr" -o "$T/cacerts.out" -w '%{http_code}' \
	"$EST/cacerts")
expect cacerts "cacerts" 200 "$code"
has_header cacerts 'content-type: application/pkcs7-mime' && pass ||
	fail "cacerts Content-Type is not application/pkcs7-mime"
has_header cacerts 'content-transfer-encoding: base64' && pass ||
	fail "cacerts lacks Content-Transfer-Encoding: base64"
has_header cacerts 'content-length: [0-9]' && pass ||
	fail "cacerts lacks Content-Length"
n=$(base64 -d "$T/cacerts.out" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	grep -c '^subject=')
[ "$n" = 2 ] && pass || fail "cacerts holds $n certificates, want 2"

# --- csrattrs --------------------------------------------------------------
code=$("${CURL[@]}" -D "$T/csrattrs.hdr" -o "$T/csrattrs.out" -w '%{http_code}' \
	"$EST/csrattrs")
expect csrattrs "csrattrs" 200 "$code"
has_header csrattrs 'content-type: application/csrattrs' && pass ||
	fail "csrattrs Content-Type is not application/csrattrs"
base64 -d "$T/csrattrs.out" >"$T/csrattrs.der" 2>/dev/null
if openssl asn1parse -inform DER -in "$T/csrattrs.der" >"$T/csrattrs.txt" 2>&1; then
	pass
	grep -q prime256v1 "$T/csrattrs.txt" && pass ||
		fail "csrattrs does not name prime256v1"
	grep -q ecdsa-with-SHA256 "$T/csrattrs.txt" && pass ||
		fail "csrattrs does not name ecdsa-with-SHA256"
else
	fail "csrattrs does not parse as DER"
	sed 's/^/    /' "$T/csrattrs.txt" >&2
fi

# --- simpleenroll with a one-time secret -----------------------------------
# The CSR asks for CA:TRUE and keyCertSign: nothing of it may be copied.
csr dev1 /CN=dev-1 -addext "subjectAltName=URI:urn:dev:dev-1" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" && der dev1
S1=$(mint dev-1)
[ -n "$S1" ] && pass || fail "tessera secret printed no secret"
before=$(ncerts)
code=$(post "$EST/simpleenroll" "$T/dev1.b64" dev1 "${CT[@]}" -u "dev-1:$S1")
expect dev1 "simpleenroll with a one-time secret" 200 "$code"
has_header dev1 'content-type: application/pkcs7-mime; *smime-type=certs-only' &&
	pass || fail "simpleenroll Content-Type is not certs-only"
has_header dev1 'content-length: [0-9]' && pass ||
	fail "simpleenroll lacks Content-Length"
if first_cert dev1 2>/dev/null; then
	check "enrolled certificate verifies against chain.pem" \
		openssl verify -CAfile "$D/ca/chain.pem" -purpose sslclient "$T/dev1.pem"
	openssl x509 -in "$T/dev1.pem" -noout -text >"$T/dev1.txt"
	openssl x509 -in "$T/dev1.pem" -noout -subject -nameopt RFC2253 |
		grep -qx 'subject=CN=dev-1' && pass || fail "enrolled subject is not CN=dev-1"
	grep -q 'URI:urn:dev:dev-1' "$T/dev1.txt" && pass ||
		fail "enrolled SAN lacks URI:urn:dev:dev-1"
	grep -q 'CA:FALSE' "$T/dev1.txt" && ! grep -q 'CA:TRUE' "$T/dev1.txt" &&
		pass || fail "CSR's CA:TRUE was copied (want CA:FALSE)"
	grep -q 'Certificate Sign' "$T/dev1.txt" && fail "CSR's keyCertSign was copied" ||
		pass
	SER1=$(serial_of "$T/dev1.pem")
	[ "$(db "SELECT device_id || ' ' || profile || ' ' || status FROM certificates WHERE serial = '$SER1'")" = "dev-1 device valid" ] &&
		pass || fail "store row for $SER1 is not 'dev-1 device valid'"
else
	fail "simpleenroll response is not a certs-only PKCS#7"
	SER1=none
fi
[ "$(ncerts)" = $((before + 1)) ] && pass || fail "simpleenroll did not add one row"

# Body encodings (RFC 8951 §3): one line or wrapped, with or without a
# Content-Transfer-Encoding request header.
i=0
for wrap in b64 b64w; do
	for cte in yes no; do
		i=$((i + 1))
		csr "enc$i" "/CN=dev-enc$i" && der "enc$i"
		s=$(mint "dev-enc$i")
		hdr=()
		[ $cte = yes ] && hdr=(-H 'Content-Transfer-Encoding: base64')
		code=$(post "$EST/simpleenroll" "$T/enc$i.$wrap" "enc$i" "${CT[@]}" \
			"${hdr[@]}" -u "dev-enc$i:$s")
		expect "enc$i" "simpleenroll, body $wrap, CTE header $cte" 200 "$code"
	done
done

# --- refusals of simpleenroll with secrets ----------------------------------
refused reuse "secret used twice" 401 "$EST/simpleenroll" "$T/dev1.b64" reuse \
	"${CT[@]}" -u "dev-1:$S1"
has_header reuse 'www-authenticate: basic' && pass ||
	fail "401 for a used secret lacks WWW-Authenticate: Basic"
body_says reuse "secret used twice" "was not accepted"
audit_says "secret used twice" "was already used"

csr devw /CN=dev-w && der devw
mint dev-w >/dev/null
refused wrongsecret "wrong secret" 401 "$EST/simpleenroll" "$T/devw.b64" \
	wrongsecret "${CT[@]}" -u "dev-w:not-the-secret"
has_header wrongsecret 'www-authenticate: basic' && pass ||
	fail "401 for a wrong secret lacks WWW-Authenticate: Basic"
refused nocred "simpleenroll without credentials" 401 "$EST/simpleenroll" \
	"$T/devw.b64" nocred "${CT[@]}"
has_header nocred 'www-authenticate: basic' && pass ||
	fail "401 without credentials lacks WWW-Authenticate: Basic"

csr deve /CN=dev-e && der deve
Se=$(mint dev-e)
db "UPDATE enrollment_secrets SET expires = strftime('%s','now') - 10 WHERE device_id = 'dev-e'"
refused expired "expired secret" 401 "$EST/simpleenroll" "$T/deve.b64" expired \
	"${CT[@]}" -u "dev-e:$Se"
body_says expired "expired secret" "was not accepted"
audit_says "expired secret" "expired"

csr other /CN=dev-other && der other
So=$(mint dev-o)
refused otherdev "CSR for another device than the secret's" 403 \
	"$EST/simpleenroll" "$T/other.b64" otherdev "${CT[@]}" -u "dev-o:$So"
body_says otherdev "CSR for another device" "dev-other"

# A secret minted for profile device, used at label gateway.
csr gw /CN=dev-g && der gw
Sg=$(mint dev-g)
refused gwlabel "device secret at label gateway" '40[13]' "$EST/gateway/simpleenroll" \
	"$T/gw.b64" gwlabel "${CT[@]}" -u "dev-g:$Sg"
body_says gwlabel "device secret at label gateway" "was not accepted"
audit_says "device secret at label gateway" "is for profile device, not gateway"

# --- simplereenroll over mTLS with the device's certificate ----------------
csr re1 /CN=dev-1 -addext "subjectAltName=URI:urn:dev:dev-1" && der re1
before=$(ncerts)
code=$(post "$EST/simplereenroll" "$T/re1.b64" re1 "${CT[@]}" \
	--cert "$T/dev1.pem" --key "$T/dev1.key")
expect re1 "simplereenroll with a new key, same subject" 200 "$code"
if [ "$code" = 200 ] && first_cert re1 2>/dev/null; then
	SER2=$(serial_of "$T/re1.pem")
	n=$(db "SELECT count(*) FROM certificates WHERE device_id = 'dev-1' AND serial IN ('$SER1', '$SER2') AND status = 'valid'")
	[ "$SER1" != "$SER2" ] && [ "$n" = 2 ] && pass ||
		fail "after reenroll, old and new certificates are not both in the store ($SER1, $SER2: $n)"
	cmp -s <(openssl x509 -in "$T/re1.pem" -noout -pubkey) \
		<(openssl pkey -in "$T/re1.key" -pubout) && pass ||
		fail "renewed certificate does not carry the new key"
fi
[ "$(ncerts)" = $((before + 1)) ] && pass || fail "simplereenroll did not add one row"

csr re2 /CN=dev-1/O=Elsewhere -addext "subjectAltName=URI:urn:dev:dev-1" && der re2
refused re2 "simplereenroll with a changed subject" 403 "$EST/simplereenroll" \
	"$T/re2.b64" re2 "${CT[@]}" --cert "$T/re1.pem" --key "$T/re1.key"
body_says re2 "simplereenroll with a changed subject" "subject"

# dev1.pem was renewed: it is superseded and renews no more.
refused re6 "simplereenroll with a certificate renewed already" 403 \
	"$EST/simplereenroll" "$T/re1.b64" re6 "${CT[@]}" \
	--cert "$T/dev1.pem" --key "$T/dev1.key"
body_says re6 "simplereenroll with a certificate renewed already" "superseded"

code=$(post "$EST/simplereenroll" "$T/re1.b64" re3 "${CT[@]}" \
	--cert "$T/re1.pem" --key "$T/re1.key" -u ":")
expect re3 "simplereenroll with a certificate and empty Basic credentials" 200 "$code"
first_cert re3 2>/dev/null || fail "re3: no certificate"

refused re4 "simplereenroll without a client certificate" 401 \
	"$EST/simplereenroll" "$T/re1.b64" re4 "${CT[@]}"
has_header re4 'www-authenticate: basic' && pass ||
	fail "401 for reenroll without a certificate lacks WWW-Authenticate"

refused re5 "simplereenroll into label gateway" 403 "$EST/gateway/simplereenroll" \
	"$T/re1.b64" re5 "${CT[@]}" --cert "$T/re3.pem" --key "$T/re1.key"
body_says re5 "simplereenroll into label gateway" "profile gateway"

# A device certificate may not enroll other devices.
csr dev9 /CN=dev-9 && der dev9
refused devother "device certificate enrolling another device" 403 \
	"$EST/simpleenroll" "$T/dev9.b64" devother "${CT[@]}" \
	--cert "$T/re3.pem" --key "$T/re1.key"

# --- a station: 100 devices over one keep-alive connection -----------------
csr station /CN=station-1
check "issue the station certificate" tessera issue --data "$D" \
	--csr "$T/station.csr" --profile station --out "$T/station.pem"
STA=(--cert "$T/station.pem" --key "$T/station.key")
openssl ecparam -name prime256v1 -genkey -noout -out "$T/stdev.key" 2>/dev/null
args=()
for i in $(seq -w 1 100); do
	openssl req -new -key "$T/stdev.key" -subj "/CN=st-$i" -outform DER 2>/dev/null |
		base64 -w0 >"$T/st-$i.b64"
	[ "$i" = 001 ] || args+=(--next)
	args+=(-sS --max-time 20 --cacert "$D/ca/chain.pem" "${STA[@]}" "${CT[@]}"
		--data-binary @"$T/st-$i.b64" -o "$T/st-$i.out"
		-w '%{http_code} %{num_connects}\n' "$EST/simpleenroll")
done
before=$(ncerts)
curl "${args[@]}" >"$T/station.codes" 2>"$T/station.err"
n=$(grep -c '^200 ' "$T/station.codes")
[ "$n" = 100 ] && pass || {
	fail "station keep-alive: $n of 100 enrollments returned 200"
	sort "$T/station.codes" | uniq -c | sed 's/^/    /' >&2
}
n=$(awk '{ s += $2 } END { print s + 0 }' "$T/station.codes")
[ "$n" = 1 ] && pass || fail "station: 100 enrollments took $n TLS connections, want 1"
[ "$(ncerts)" = $((before + 100)) ] && pass ||
	fail "station: store grew by $(($(ncerts) - before)), want 100"
n=$(db "SELECT count(DISTINCT serial) FROM certificates WHERE device_id LIKE 'st-%'")
[ "$n" = 100 ] && pass || fail "station: $n distinct serials in the store, want 100"
n=$(for i in $(seq -w 1 100); do
	base64 -d "$T/st-$i.out" 2>/dev/null | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null
done | sort -u | wc -l)
[ "$n" = 100 ] && pass || fail "station: $n distinct serials returned, want 100"

csr stbad /CN=dev-zzz && der stbad
refused stbad "station enrolling a device outside its device_pattern" 403 \
	"$EST/simpleenroll" "$T/stbad.b64" stbad "${CT[@]}" "${STA[@]}"
body_says stbad "station enrolling outside its device_pattern" "dev-zzz"

# --- the secrets API --------------------------------------------------------
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")
echo '{"device":"dev-api","profile":"device","ttl":600}' >"$T/api.json"
code=$(post "$API/enrollment-secrets" "$T/api.json" api "${ADM[@]}" \
	-H 'Content-Type: application/json')
expect api "admin POST enrollment-secrets" 201 "$code"
Sa=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' \
	"$T/api.out" 2>/dev/null)
csr devapi /CN=dev-api && der devapi
code=$(post "$EST/simpleenroll" "$T/devapi.b64" devapi "${CT[@]}" -u "dev-api:$Sa")
expect devapi "enrollment with a secret from the API" 200 "$code"

code=$(post "$API/enrollment-secrets" "$T/api.json" apidev \
	-H 'Content-Type: application/json' --cert "$T/re3.pem" --key "$T/re1.key")
expect apidev "device certificate calling the secrets API" 403 "$code"
code=$(post "$API/enrollment-secrets" "$T/api.json" apinone \
	-H 'Content-Type: application/json')
expect apinone "secrets API without a client certificate" 401 "$code"
echo '{"device":"dev-api2","colour":"blue"}' >"$T/api2.json"
code=$(post "$API/enrollment-secrets" "$T/api2.json" apikey "${ADM[@]}" \
	-H 'Content-Type: application/json')
expect apikey "secrets API with an unknown JSON key" 400 "$code"
body_says apikey "unknown JSON key" "colour"

# --- serverkeygen -----------------------------------------------------------
# keygen NAME SPEC: serverkeygen for CN=NAME with a CSR key of SPEC (an
# openssl -newkey argument and options); the parts in $T/NAME.key.der and
# $T/NAME.p7.
keygen() {
	local name=$1 s code boundary
	shift
	openssl req -new -nodes -keyout "$T/$name.csrkey" -subj "/CN=$name" \
		-out "$T/$name.csr" "$@" 2>/dev/null && der "$name"
	s=$(mint "$name")
	code=$(post "$EST/serverkeygen" "$T/$name.b64" "$name" "${CT[@]}" -u "$name:$s")
	expect "$name" "serverkeygen ($*)" 200 "$code"
	[ "$code" = 200 ] || return 1
	boundary=$(grep -i '^content-type: multipart/mixed' "$T/$name.hdr" |
		sed -n 's/.*boundary="\{0,1\}\([^";[:space:]]*\).*/\1/p')
	[ -n "$boundary" ] && pass || {
		fail "serverkeygen: Content-Type is not multipart/mixed with a boundary"
		return 1
	}
	# Split the parts: part N's headers in $T/NAME.partN.hdr, body in .b64.
	awk -v b="--$boundary" -v out="$T/$name.part" '
		{ sub(/\r$/, "") }
		$0 == b || $0 == b "--" { n++; inhdr = 1; next }
		n && inhdr && $0 == "" { inhdr = 0; next }
		n && inhdr { print > (out n ".hdr"); next }
		n { print > (out n ".b64") }' "$T/$name.out"
	grep -qix 'content-type: application/pkcs8' "$T/$name.part1.hdr" 2>/dev/null &&
		pass || fail "serverkeygen: first part is not application/pkcs8"
	grep -qi '^content-type: application/pkcs7-mime' "$T/$name.part2.hdr" 2>/dev/null &&
		pass || fail "serverkeygen: second part is not application/pkcs7-mime"
	base64 -d "$T/$name.part1.b64" >"$T/$name.key.der" 2>/dev/null
	base64 -d "$T/$name.part2.b64" >"$T/$name.p7" 2>/dev/null
	openssl pkey -inform DER -in "$T/$name.key.der" -pubout -out "$T/$name.keypub" \
		2>/dev/null && pass || fail "serverkeygen: key part does not parse"
	openssl pkcs7 -inform DER -in "$T/$name.p7" -print_certs 2>/dev/null |
		openssl x509 -out "$T/$name.pem" 2>/dev/null && pass ||
		fail "serverkeygen: certificate part does not parse"
	cmp -s "$T/$name.keypub" <(openssl x509 -in "$T/$name.pem" -noout -pubkey) &&
		pass || fail "serverkeygen: the key does not match the certificate"
	cmp -s "$T/$name.keypub" <(openssl pkey -in "$T/$name.csrkey" -pubout) &&
		fail "serverkeygen: the certificate carries the CSR's key" || pass
	openssl pkey -inform DER -in "$T/$name.key.der" -noout -text >"$T/$name.keytxt" 2>&1
}
if keygen kg-p256 -newkey ec -pkeyopt ec_paramgen_curve:P-256; then
	grep -q 'NIST CURVE: P-256' "$T/kg-p256.keytxt" && pass ||
		fail "serverkeygen for a P-256 CSR did not give a P-256 key"
fi
if keygen kg-p384 -newkey ec -pkeyopt ec_paramgen_curve:P-384; then
	grep -q 'NIST CURVE: P-384' "$T/kg-p384.keytxt" && pass ||
		fail "serverkeygen for a P-384 CSR did not give a P-384 key"
fi
if keygen kg-rsa -newkey rsa:3072; then
	grep -q 'Private-Key: (3072 bit' "$T/kg-rsa.keytxt" && pass ||
		fail "serverkeygen for an RSA-3072 CSR did not give an RSA-3072 key: $(head -1 "$T/kg-rsa.keytxt")"
fi
# The generated keys are nowhere but in the responses: not in the log, not
# in the database. Looked for: the base64 lines of the PKCS#8 part, and the
# private value (EC priv, RSA privateExponent) as raw bytes (privhex,
# lib.sh: at the curve's full width; a printed number drops a leading zero
# byte, one EC key in 256, and had failed the check below).
cat "$D"/tessera.db* | od -An -tx1 -v | tr -d ' \n' >"$T/db.hex"
for k in kg-p256 kg-p384 kg-rsa; do
	[ -s "$T/$k.key.der" ] || continue
	awk 'length($0) >= 16' "$T/$k.part1.b64" >"$T/$k.lines"
	openssl pkey -inform DER -in "$T/$k.key.der" -out "$T/$k.keypem" 2>/dev/null
	h=$(privhex "$T/$k.keypem")
	[ ${#h} -ge 64 ] && pass || fail "serverkeygen: no private value found in the $k key"
	if grep -qFf "$T/$k.lines" "$T/serve.err" "$T/serve.out" "$D"/tessera.db* 2>/dev/null; then
		fail "serverkeygen: the generated $k key (base64) appears in the log or database"
	elif [ ${#h} -ge 64 ] && grep -qF -- "$h" "$T/db.hex"; then
		fail "serverkeygen: the generated $k private key appears in the database"
	else pass; fi
done

# --- malformed and hostile requests ----------------------------------------
csr mal /CN=dev-mal && der mal
Sm=$(mint dev-mal)
code=$(post "$EST/fullcmc" "$T/mal.b64" fullcmc \
	-H 'Content-Type: application/pkcs7-mime; smime-type=CMC-request' -u "dev-mal:$Sm")
expect fullcmc "fullcmc" 501 "$code"
code=$("${CURL[@]}" -D "$T/get.hdr" -o "$T/get.out" -w '%{http_code}' \
	"$EST/simpleenroll")
expect get "GET simpleenroll" 405 "$code"
has_header get 'allow: POST' && pass || fail "405 lacks Allow: POST"
code=$("${CURL[@]}" -o "$T/label.out" -w '%{http_code}' "$EST/nosuchlabel/cacerts")
expect label "unknown label" 404 "$code"
code=$("${CURL[@]}" -o "$T/op.out" -w '%{http_code}' "$EST/nosuchop")
expect op "unknown operation" 404 "$code"
refused ctype "wrong Content-Type" 400 "$EST/simpleenroll" "$T/mal.b64" ctype \
	-H 'Content-Type: application/json' -u "dev-mal:$Sm"
printf 'this is *not* base64 at all!\n' >"$T/notb64"
refused notb64 "non-base64 body" 400 "$EST/simpleenroll" "$T/notb64" notb64 \
	"${CT[@]}" -u "dev-mal:$Sm"
head -c 600 /dev/urandom | base64 -w0 >"$T/junk.b64"
refused junk "DER junk (base64 of random bytes)" 400 "$EST/simpleenroll" \
	"$T/junk.b64" junk "${CT[@]}" -u "dev-mal:$Sm"
: >"$T/empty"
refused empty "empty body" 400 "$EST/simpleenroll" "$T/empty" empty \
	"${CT[@]}" -u "dev-mal:$Sm"
head -c 2097152 /dev/zero | tr '\0' A >"$T/big"
refused big "2 MB body" 413 "$EST/simpleenroll" "$T/big" big "${CT[@]}" \
	-u "dev-mal:$Sm"
# None of the malformed requests used the secret up.
code=$(post "$EST/simpleenroll" "$T/mal.b64" malok "${CT[@]}" -u "dev-mal:$Sm")
expect malok "enrollment after malformed requests with the same secret" 200 "$code"
check "healthz after the malformed requests" wait_healthz "$P2" 5

# --- channel binding (RFC 7030 §3.5) ----------------------------------------
POP=${TESSERA_EST_POP:-${TESSERA_BUILD:-$TESSERA_SOURCE/build}/tests/est_pop}
if [ -x "$POP" ]; then
	popargs=(--connect "127.0.0.1:$P1" --name localhost --cafile "$D/ca/chain.pem"
		"${STA[@]}")
	check "channel binding over TLS 1.2 (tls-unique)" "$POP" "${popargs[@]}" --id st-pop-1
	before=$(ncerts)
	"$POP" "${popargs[@]}" --id st-pop-2 --wrong >"$T/pop2.out" 2>&1
	grep -q '^HTTP/1.1 403' "$T/pop2.out" && pass || {
		fail "wrong channel binding over TLS 1.2: want 403"
		sed 's/^/    /' "$T/pop2.out" >&2
	}
	[ "$(ncerts)" = "$before" ] && pass || fail "wrong channel binding changed the store"
	check "channel binding over TLS 1.3 (tls-exporter)" "$POP" "${popargs[@]}" \
		--id st-pop-3 --tls13
	"$POP" "${popargs[@]}" --id st-pop-4 --tls13 --wrong >"$T/pop4.out" 2>&1
	grep -q '^HTTP/1.1 403' "$T/pop4.out" && pass || {
		fail "wrong channel binding over TLS 1.3: want 403"
		sed 's/^/    /' "$T/pop4.out" >&2
	}
	# RFC 9266 §3: TLS 1.2 without extended master secret has no safe
	# tls-unique; the binding is refused however right it is.
	before=$(ncerts)
	"$POP" "${popargs[@]}" --id st-pop-6 --no-ems >"$T/pop6.out" 2>&1
	if grep -q '^HTTP/1.1 403' "$T/pop6.out" &&
		grep -q 'extended master secret' "$T/pop6.out"; then pass; else
		fail "tls-unique without extended master secret: want 403 naming it"
		sed 's/^/    /' "$T/pop6.out" >&2
	fi
	[ "$(ncerts)" = "$before" ] && pass || fail "a binding without EMS changed the store"
	check "the same over TLS 1.2 with extended master secret" "$POP" "${popargs[@]}" \
		--id st-pop-6
	Sp=$(mint dev-pop5)
	check "channel binding with a one-time secret" "$POP" --connect "127.0.0.1:$P1" \
		--cafile "$D/ca/chain.pem" --user dev-pop5 --password "$Sp" --id dev-pop5
else
	fail "est_pop not found (set TESSERA_EST_POP; looked at $POP)"
fi

# --- IDevID bootstrap -------------------------------------------------------
# A manufacturer CA and an IDevID (serialNumber=SN0001, no EKU); a second,
# untrusted CA with an IDevID of its own.
mkca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1-ca.key" -subj "/O=$1/CN=$1 IDevID CA" -days 3650 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$T/$1-ca.pem" 2>/dev/null
}
idevid() { # CA NAME SERIAL
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$2.key" -subj "/serialNumber=$3/CN=Widget $3" \
		-out "$T/$2.csr" 2>/dev/null &&
		openssl x509 -req -in "$T/$2.csr" -CA "$T/$1-ca.pem" -CAkey "$T/$1-ca.key" \
			-CAcreateserial -days 3650 -out "$T/$2.pem" \
			-extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n') \
			2>/dev/null
}
mkca acme && idevid acme idev1 SN0001 && mkca evil && idevid evil idev2 SN0002 &&
	pass || fail "making the manufacturer CAs and IDevIDs"
cp "$T/acme-ca.pem" "$D/acme-ca.pem"
python3 -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["authenticators"]["manufacturers"].append({"name": "acme",
    "trust": "acme-ca.pem", "device_id": "serialNumber",
    "device_pattern": "^sn[0-9]{4}$", "profiles": ["device"]})
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json"
stop_server
if start_server "$D" "$P1" "$P2"; then
	pass
	IDV=(--cert "$T/idev1.pem" --key "$T/idev1.key")
	# The IDevID says SN0001; its device id is the canonical sn0001, and
	# a CSR must spell it so.
	csr snup /CN=SN0001 && der snup
	refused snup "IDevID enrolling its serial number in upper case" 400 \
		"$EST/simpleenroll" "$T/snup.b64" snup "${CT[@]}" "${IDV[@]}"
	body_says snup "IDevID enrolling in upper case" 'use "sn0001"'
	csr sn1 /CN=sn0001 && der sn1
	code=$(post "$EST/simpleenroll" "$T/sn1.b64" sn1 "${CT[@]}" "${IDV[@]}")
	expect sn1 "IDevID enrolling its own serial number" 200 "$code"
	n=$(db "SELECT count(*) FROM certificates WHERE device_id = 'sn0001'")
	[ "$n" = 1 ] && pass || fail "IDevID: $n certificates for sn0001, want 1"
	csr snother /CN=other && der snother
	refused snother "IDevID enrolling another device" 403 "$EST/simpleenroll" \
		"$T/snother.b64" snother "${CT[@]}" "${IDV[@]}"
	csr sn2 /CN=sn0002 && der sn2
	refused untrusted "IDevID from an untrusted CA" '40[13]' "$EST/simpleenroll" \
		"$T/sn2.b64" untrusted "${CT[@]}" --cert "$T/idev2.pem" --key "$T/idev2.key"
	n=$(db "SELECT count(*) FROM certificates WHERE device_id = 'sn0002'")
	[ "$n" = 0 ] && pass || fail "untrusted IDevID: $n certificates for sn0002"
	check "healthz at the end" wait_healthz "$P2" 5
else
	fail "server did not come back with the manufacturer policy"
	tail -5 "$T/serve.err" | sed 's/^/    /' >&2
fi
stop_server

# --- audit ------------------------------------------------------------------
check "audit verify" tessera audit verify --data "$D"
n=$(db "SELECT count(*) FROM audit WHERE action = 'issue'")
[ "$n" -gt 0 ] && pass || fail "no 'issue' rows in the audit table"
n=$(db "SELECT count(*) FROM audit WHERE action = 'refuse'")
[ "$n" -gt 0 ] && pass || fail "no 'refuse' rows in the audit table"

if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/serve.err" >&2; then
	fail "sanitizer report in the server's stderr"
else pass; fi
finish
