#!/usr/bin/env bash
# Names are bound to the identity, end to end with curl, openssl and
# python3-cryptography against the default policy:
# - the reported attack: a gateway secret (minted over the admin API) asks
#   for localhost and 127.0.0.1: 403 naming the field, nothing stored, the
#   secret still unused; the certificate the gateway does get names only
#   gw-1.gw.tessera.invalid, and a TLS server holding it cannot pass for
#   localhost to curl (tessera's own server name); a template name that
#   is the host of tessera's own URL is refused too;
# - one spelling per device id: Dev-X cannot be minted, enrolled, revoked
#   or listed, so a block on dev-x cannot be dodged by case;
# - what a CSR may not carry: another device's URN, an attribute without a
#   rule, a multi-valued RDN, an RSA key with e = 3; and what it carries is
#   re-encoded (a BMPString CN is issued as UTF8String).
# Every refusal leaves the certificates table as it was.
. "$(dirname "$0")/lib.sh"
D=$T/var
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }
ncerts() { db 'SELECT count(*) FROM certificates'; }

ports=$(pick_ports 3) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 P3 <<<"$ports"
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
C=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")
ADMIN=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")
CT=(-H 'Content-Type: application/pkcs10')
JSON=(-H 'Content-Type: application/json')

# tessera's own URL names a host a gateway template could also make: the
# template must not hand it out (defence in depth behind the suffix).
check "init" "$TESSERA_BIN" init --data "$D" --name "Names Test" \
	--url "https://gw-own.gw.tessera.invalid:$P1"
if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	finish
	exit
fi
pass

# mint ID PROFILE: a secret from the admin API; the answer in $T/mint.out.
mint() {
	"${C[@]}" "${ADMIN[@]}" "${JSON[@]}" -o "$T/mint.out" \
		-w '%{http_code}' -d "{\"device\": \"$1\", \"profile\": \"$2\"}" \
		"$API/enrollment-secrets"
}
secret_of() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' \
		"$T/mint.out"
}
# enroll NAME URL USER SECRET: POST $T/NAME.csr (PEM) as base64 DER with
# HTTP Basic; body in $T/NAME.out; prints the status code.
enroll() {
	openssl req -in "$T/$1.csr" -outform DER | base64 -w0 >"$T/$1.b64"
	"${C[@]}" -o "$T/$1.out" -w '%{http_code}' "${CT[@]}" -u "$3:$4" \
		--data-binary @"$T/$1.b64" "$2"
}
# refused NAME WHAT WANT URL USER SECRET TEXT: the enrollment gets WANT,
# its body says TEXT and the store keeps its certificates.
refused() {
	local name=$1 what=$2 want=$3 url=$4 user=$5 secret=$6 text=$7
	local before after code
	before=$(ncerts)
	code=$(enroll "$name" "$url" "$user" "$secret")
	after=$(ncerts)
	[ "$code" = "$want" ] && pass || fail "$what: HTTP $code, want $want"
	grep -qF -- "$text" "$T/$name.out" && pass || {
		fail "$what: body lacks '$text'"
		head -c 400 "$T/$name.out" | sed 's/^/    /' >&2
		echo >&2
	}
	[ "$before" = "$after" ] && pass ||
		fail "$what: store changed ($before -> $after certificates)"
}
first_cert() {
	base64 -d "$T/$1.out" | openssl pkcs7 -inform DER -print_certs |
		openssl x509 -out "$T/$1.pem"
}

# --- the reported attack ----------------------------------------------------
code=$(mint gw-1 gateway)
[ "$code" = 201 ] && pass || fail "minting a gateway secret: HTTP $code"
GW=$(secret_of)
csr gwbad /CN=gw-1 -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
refused gwbad "gateway CSR for localhost" 403 "$EST/gateway/simpleenroll" \
	gw-1 "$GW" 'subjectAltName DNS "localhost" is not a name of device "gw-1"'
csr gwip /CN=gw-1 -addext "subjectAltName=DNS:gw-1.gw.tessera.invalid,IP:127.0.0.1"
refused gwip "gateway CSR for 127.0.0.1" 403 "$EST/gateway/simpleenroll" \
	gw-1 "$GW" "subjectAltName IP 127.0.0.1: profile gateway issues no IP addresses"
csr gwother /CN=gw-1 -addext "subjectAltName=DNS:gw-2.gw.tessera.invalid"
refused gwother "gateway CSR for another gateway's name" 403 \
	"$EST/gateway/simpleenroll" gw-1 "$GW" 'subjectAltName DNS "gw-2.gw.tessera.invalid"'
csr gwlocal /CN=localhost -addext "subjectAltName=DNS:localhost"
refused gwlocal "gateway secret for gw-1 used for CN=localhost" 403 \
	"$EST/gateway/simpleenroll" gw-1 "$GW" "the secret is for device gw-1"
n=$(db "SELECT count(*) FROM certificates WHERE profile = 'gateway'")
[ "$n" = 0 ] && pass || fail "refused gateway CSRs stored $n certificates"
n=$(db "SELECT count(*) FROM enrollment_secrets WHERE device_id = 'gw-1' AND consumed_at IS NULL")
[ "$n" = 1 ] && pass || fail "the refusals used the gateway secret ($n unused)"

# A gateway whose template name is tessera's own server name gets nothing.
code=$(mint gw-own gateway)
[ "$code" = 201 ] && pass || fail "minting for gw-own: HTTP $code"
GO=$(secret_of)
csr gwown /CN=gw-own
refused gwown "gateway whose name is tessera's own" 403 \
	"$EST/gateway/simpleenroll" gw-own "$GO" \
	"subjectAltName DNS gw-own.gw.tessera.invalid is tessera's own server name"

# The secret is still good for the gateway's own name.
csr gw /CN=gw-1 -addext "subjectAltName=DNS:gw-1.gw.tessera.invalid"
code=$(enroll gw "$EST/gateway/simpleenroll" gw-1 "$GW")
[ "$code" = 200 ] && pass || fail "gateway enrolling its own name: HTTP $code"
first_cert gw
openssl x509 -in "$T/gw.pem" -noout -ext subjectAltName -subject \
	-nameopt RFC2253 >"$T/gw.txt" 2>&1
grep -qx 'subject=CN=gw-1.gw.tessera.invalid' "$T/gw.txt" && pass ||
	fail "gateway subject: $(grep subject "$T/gw.txt")"
[ "$(grep -c 'DNS:\|IP Address:\|URI:' "$T/gw.txt")" = 1 ] &&
	grep -q '^ *DNS:gw-1.gw.tessera.invalid$' "$T/gw.txt" && pass ||
	fail "gateway SAN is not exactly gw-1.gw.tessera.invalid: $(cat "$T/gw.txt")"
openssl x509 -in "$T/gw.pem" -noout -checkhost localhost | grep -q 'does NOT match' &&
	pass || fail "the gateway certificate matches localhost"
openssl x509 -in "$T/gw.pem" -noout -checkip 127.0.0.1 | grep -q 'does NOT match' &&
	pass || fail "the gateway certificate matches 127.0.0.1"

# RFC 7030 §4.2.2: a renewing gateway copies its certificate's subject
# and SAN; the full name stands for its id there, and the names stay.
csr gwre /CN=gw-1.gw.tessera.invalid \
	-addext "subjectAltName=DNS:gw-1.gw.tessera.invalid"
openssl req -in "$T/gwre.csr" -outform DER | base64 -w0 >"$T/gwre.b64"
code=$("${C[@]}" -o "$T/gwre.out" -w '%{http_code}' "${CT[@]}" \
	--cert "$T/gw.pem" --key "$T/gw.key" --data-binary @"$T/gwre.b64" \
	"$EST/gateway/simplereenroll")
[ "$code" = 200 ] && pass || fail "gateway renewing with its certificate's names: HTTP $code $(head -c 300 "$T/gwre.out")"
if [ "$code" = 200 ]; then
	first_cert gwre
	[ "$(openssl x509 -in "$T/gwre.pem" -noout -subject -ext subjectAltName)" = \
		"$(openssl x509 -in "$T/gw.pem" -noout -subject -ext subjectAltName)" ] &&
		pass || fail "the renewal changed the gateway's names"
	n=$(db "SELECT count(*) FROM certificates WHERE device_id = 'gw-1'")
	[ "$n" = 2 ] && pass || fail "gw-1 has $n certificates after the renewal, want 2"
fi
# A full name that is not the principal's own stays an (invalid) id.
csr gwfull /CN=gw-9.gw.tessera.invalid
refused gwfull "a gateway CSR naming its full name with a secret for another id" \
	400 "$EST/gateway/simpleenroll" gw-own "$GO" \
	'device id "gw-9.gw.tessera.invalid" does not match profile gateway'"'"'s device_id_pattern'

# End to end: the gateway's certificate as a TLS server on loopback; curl,
# trusting tessera's chain, must refuse it as localhost and as 127.0.0.1.
openssl s_server -quiet -accept "127.0.0.1:$P3" -cert "$T/gw.pem" \
	-key "$T/gw.key" -cert_chain "$D/ca/chain.pem" -www \
	>"$T/s_server.out" 2>&1 &
SPID=$!
cleanup_hooks+=("kill $SPID 2>/dev/null; wait $SPID 2>/dev/null")
up=0
for _ in $(seq 1 100); do
	if [ -n "$(ss -ltnH "sport = :$P3" 2>/dev/null)" ]; then up=1; break; fi
	kill -0 "$SPID" 2>/dev/null || break
	sleep 0.1
done
[ "$up" = 1 ] && pass || fail "openssl s_server with the gateway certificate did not listen"
if [ "$up" = 1 ]; then
	# The chain verifies (exit 0 against its own name) ...
	"${C[@]}" -o /dev/null --resolve "gw-1.gw.tessera.invalid:$P3:127.0.0.1" \
		"https://gw-1.gw.tessera.invalid:$P3/" && pass ||
		fail "curl does not accept the gateway under its own name"
	# ... and the names of tessera's own server are refused.
	"${C[@]}" -o /dev/null "https://localhost:$P3/" 2>"$T/curl-local.err"
	rc=$?
	[ "$rc" = 60 ] || [ "$rc" = 51 ] && pass ||
		fail "curl to localhost with the gateway certificate: exit $rc, want 60"
	"${C[@]}" -o /dev/null "https://127.0.0.1:$P3/" 2>"$T/curl-ip.err"
	rc=$?
	[ "$rc" = 60 ] || [ "$rc" = 51 ] && pass ||
		fail "curl to 127.0.0.1 with the gateway certificate: exit $rc, want 60"
fi
kill "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null

# --- one spelling per device id ---------------------------------------------
code=$(mint Dev-X device)
[ "$code" = 400 ] && pass || fail "minting for Dev-X: HTTP $code, want 400"
grep -qF 'use \"dev-x\"' "$T/mint.out" || grep -qF 'use "dev-x"' "$T/mint.out" &&
	pass || fail "minting for Dev-X: body lacks the canonical form: $(cat "$T/mint.out")"
code=$(mint dev-x device)
[ "$code" = 201 ] && pass || fail "minting for dev-x: HTTP $code"
DX=$(secret_of)
# A CSR spelling the id otherwise is refused before anything else.
csr devx /CN=Dev-X -addext "subjectAltName=URI:urn:dev:Dev-X"
refused devx "CSR for Dev-X with dev-x's secret" 400 "$EST/simpleenroll" \
	dev-x "$DX" 'device id "Dev-X" is not canonical'
csr devxu /CN=Dev-X
refused devxu "Basic user Dev-X" 400 "$EST/simpleenroll" Dev-X "$DX" \
	'device id "Dev-X" is not canonical'
code=$("${C[@]}" "${ADMIN[@]}" "${JSON[@]}" -o "$T/rev.out" -w '%{http_code}' \
	-d '{"reason": "keyCompromise"}' "$API/devices/dev-x/revoke")
[ "$code" = 200 ] || [ "$code" = 404 ] && pass || fail "revoking dev-x: HTTP $code"
code=$("${C[@]}" "${ADMIN[@]}" "${JSON[@]}" -o "$T/revup.out" -w '%{http_code}' \
	-d '{"reason": "keyCompromise"}' "$API/devices/Dev-X/revoke")
[ "$code" = 400 ] && pass || fail "revoking Dev-X: HTTP $code, want 400"
grep -qF "is not canonical" "$T/revup.out" && pass ||
	fail "revoking Dev-X: $(cat "$T/revup.out")"
code=$("${C[@]}" "${ADMIN[@]}" -o "$T/list.out" -w '%{http_code}' \
	"$API/certificates?device=Dev-X")
[ "$code" = 400 ] && pass || fail "listing device=Dev-X: HTTP $code, want 400"
# The block cancelled dev-x's secret: no spelling enrolls with it now.
csr devx2 /CN=Dev-X
refused devx2 "CSR for Dev-X after the block" 401 "$EST/simpleenroll" \
	dev-x "$DX" 'was not accepted'
n=$(db "SELECT count(*) FROM certificates WHERE lower(device_id) = 'dev-x'")
[ "$n" = 0 ] && pass || fail "$n certificates for a spelling of dev-x"

# --- what a CSR may not carry, and how what it carries is issued ------------
code=$(mint dev-a device)
A=$(secret_of)
csr other /CN=dev-a -addext "subjectAltName=URI:urn:dev:dev-b"
refused other "a device asking for another device's URN" 403 "$EST/simpleenroll" \
	dev-a "$A" 'subjectAltName URI "urn:dev:dev-b" is not a name of device "dev-a"'
csr extra /CN=dev-a/O=Tessera
refused extra "an attribute without a rule" 403 "$EST/simpleenroll" \
	dev-a "$A" "subject attribute O is not allowed by profile device"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/multi.key" -multivalue-rdn -subj "/CN=dev-a+OU=x" \
	-out "$T/multi.csr" 2>/dev/null
refused multi "a multi-valued RDN" 400 "$EST/simpleenroll" dev-a "$A" \
	"multi-valued RDN"
openssl req -new -newkey rsa:3072 -pkeyopt rsa_keygen_pubexp:3 -nodes \
	-keyout "$T/e3.key" -subj "/CN=dev-a" -out "$T/e3.csr" 2>/dev/null
refused e3 "RSA with e = 3" 400 "$EST/simpleenroll" dev-a "$A" \
	"NIST SP 800-89"
# A BMPString CN: issued as UTF8String, with the device's URN added.
python3 - "$T/bmp.key" "$T/bmp.csr" <<'EOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
k = ec.generate_private_key(ec.SECP256R1())
open(sys.argv[1], "wb").write(k.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()))
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dev-a",
                                     _ASN1Type.BMPString)])
csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(
    k, hashes.SHA256())
open(sys.argv[2], "wb").write(csr.public_bytes(serialization.Encoding.PEM))
EOF
openssl req -in "$T/bmp.csr" -noout -text 2>/dev/null | grep -q . &&
	openssl asn1parse -in "$T/bmp.csr" | grep -q BMPSTRING && pass ||
	fail "python3-cryptography did not build a BMPString CSR"
code=$(enroll bmp "$EST/simpleenroll" dev-a "$A")
[ "$code" = 200 ] && pass || fail "BMPString CN: HTTP $code, want 200"
first_cert bmp
openssl x509 -in "$T/bmp.pem" -outform DER -out "$T/bmp.der"
python3 - "$T/bmp.der" <<'EOF' && pass || fail "the issued subject or SAN is not as built"
import sys
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
c = x509.load_der_x509_certificate(open(sys.argv[1], "rb").read())
attrs = list(c.subject)
assert len(attrs) == 1, attrs
a = attrs[0]
assert a.oid == NameOID.COMMON_NAME and a.value == "dev-a", a
assert a._type == _ASN1Type.UTF8String, a._type
san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
assert [str(n.value) for n in san] == ["urn:dev:dev-a"], list(san)
EOF

stop_server
check "audit verify" "$TESSERA_BIN" audit verify --data "$D"
finish
