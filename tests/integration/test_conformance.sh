#!/usr/bin/env bash
# Conformance: one of every artifact a running tessera produces, checked by
# parsers other than OpenSSL, rule by rule (tests/integration/conformance/
# check.py): GnuTLS (certtool -i, --verify-chain, --verify, --crl-info,
# --verify-crl, --p7-info, ocsptool -j, --verify-response) and Python's
# cryptography (strict DER; every extension read; signatures verified with
# the issuer's key; RFC 5280 serials, times, SKI/AKI, basicConstraints,
# keyUsage, string types, CDP and AIA; RFC 6960 CertIDs, responder ID,
# nonce; RFC 5652 certs-only; RFC 7030 csrattrs; RFC 8414 metadata).
#
# Artifacts: the root, issuing CA, OCSP responder, TLS and admin
# certificates; devices with P-256, P-384 and RSA-3072 keys, a gateway, a
# station, a serverkeygen key and certificate, a renewal, tessera's own
# renewed TLS and responder certificates, whatever is issued for CSRs with
# IA5String, BMPString, TeletexString or PrintableString CNs, a UTF8String
# serialNumber, an RSA exponent of 3 or gateway names that are not its own
# (each of these refused with a 4xx instead is fine); the issuing CRL
# empty and with a revocation, the root CRL, the CRLs of a second service
# whose policy has four shards; OCSP good (SHA-1, SHA-256, GET), revoked,
# never issued, with a nonce, for another CA, junk; cacerts and csrattrs;
# both discovery documents.
#
# Then a revoked OCSP responder (a new one answers, checked as above) and
# the CA-compromise scenario: the issuing CA is revoked, the root CRL
# lists it (signed by the root, cACompromise), GnuTLS calls the chain
# revoked, nginx refuses a device under it (ssl_crl with the CRL chain
# after a reload; ssl_ocsp on at once, the issuing CA's status asked at
# the OCSP URL in its AIA), and enrollment under the revoked CA answers
# 503.
. "$(dirname "$0")/lib.sh"
D=$T/var
D2=$T/var-shards
A=$T/artifacts
mkdir -p "$A"
tessera() { "$TESSERA_BIN" "$@"; }

# Python with cryptography: the Debian package first (what scripts/deps
# installs), else whatever python3 is first on PATH.
PY=
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import cryptography.x509.ocsp' 2>/dev/null; then
		PY=$p
		break
	fi
done
for tool in certtool ocsptool; do
	command -v "$tool" >/dev/null || fail "$tool not found (Debian gnutls-bin)"
done
[ -n "$PY" ] || fail "no python3 with cryptography (Debian python3-cryptography)"
if [ "$FAILED" != 0 ]; then
	finish
	exit
fi

ports=$(pick_ports 6) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 Q1 Q2 G1 G2 <<<"$ports"
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
PUB=http://127.0.0.1:$P2
PUB2=http://127.0.0.1:$Q2
CURL=(curl -sS --max-time 20)
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")

check "init" tessera init --data "$D" --name "Conformance Test" \
	--publish-url "$PUB"
check "init (four CRL shards)" tessera init --data "$D2" \
	--name "Conformance Shards" --publish-url "$PUB2"
"$PY" -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["crl"]["shards"] = 4
json.dump(j, open(p, "w"), indent=2)' "$D2/policy.json"
if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
MAIN_PID=$SERVER_PID
pass

# --- helpers ------------------------------------------------------------------
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
newkey() {
	case $1 in
	ec:*) echo "-newkey ec -pkeyopt ec_paramgen_curve:${1#ec:}" ;;
	rsa:*) echo "-newkey rsa:${1#rsa:}" ;;
	esac
}
# enroll DATA ESTURL NAME ID KEY [LABEL] [SAN]: a one-time secret for ID,
# a CSR with a KEY key, simpleenroll (at LABEL); $A/NAME.pem, .key, .p7.
enroll() {
	local data=$1 est=$2 name=$3 id=$4 key=$5 label=${6:-} san=${7:-}
	local s code ext=() prof=()
	[ -n "$san" ] && ext=(-addext "subjectAltName=$san")
	[ -n "$label" ] && prof=(--profile "$label")
	# shellcheck disable=SC2046
	openssl req -new $(newkey "$key") -nodes -keyout "$A/$name.key" \
		-subj "/CN=$id" "${ext[@]}" -outform DER -out "$A/$name.csr" \
		2>/dev/null
	s=$(tessera secret --data "$data" --device "$id" "${prof[@]}" \
		2>>"$T/secret.err" | tail -1)
	code=$(base64 -w0 "$A/$name.csr" | "${CURL[@]}" --cacert "$data/ca/chain.pem" \
		-o "$A/$name.p7.b64" -w '%{http_code}' -u "$id:$s" \
		-H 'Content-Type: application/pkcs10' --data-binary @- \
		"$est/${label:+$label/}simpleenroll")
	if [ "$code" = 200 ] && base64 -d "$A/$name.p7.b64" >"$A/$name.p7" &&
		openssl pkcs7 -inform DER -in "$A/$name.p7" -print_certs 2>/dev/null |
		openssl x509 -out "$A/$name.pem" 2>/dev/null; then
		pass
	else
		fail "enroll $name ($key${label:+ at $label}): HTTP $code"
		sed 's/^/    /' "$A/$name.p7.b64" | head -5 >&2
	fi
}
# revoke DATA APIURL PEM REASON: the admin revokes the certificate.
revoke() {
	local code
	code=$("${CURL[@]}" --cacert "$1/ca/chain.pem" -o "$T/revoke.out" \
		-w '%{http_code}' --cert "$1/admin/admin.pem" \
		--key "$1/admin/admin.key" -H 'Content-Type: application/json' \
		-d "{\"reason\":\"$4\"}" \
		"$2/certificates/$(serial_of "$3")/revoke")
	[ "$code" = 200 ] && pass || {
		fail "revoke $3: HTTP $code"
		head -c 300 "$T/revoke.out" | sed 's/^/    /' >&2
	}
}
# fetch URL FILE: GET into FILE, must be 200.
fetch() {
	local code
	code=$("${CURL[@]}" -o "$2" -w '%{http_code}' "$1")
	[ "$code" = 200 ] && pass || fail "GET $1: HTTP $code"
}
# crl_lists URL SERIAL [SECONDS]: wait until the CRL at URL lists SERIAL.
crl_lists() {
	local n=$((${3:-10} * 10))
	while [ "$n" -gt 0 ]; do
		"${CURL[@]}" "$1" 2>/dev/null |
			openssl crl -inform DER -noout -text 2>/dev/null |
			grep -qi "Serial Number: *$2\$" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
# ocsp_req NAME [openssl ocsp args...]: a DER request in $A/NAME.req;
# posted to /ocsp, the answer in $A/NAME.der.
ocsp_post() {
	local name=$1 code
	shift
	openssl ocsp "$@" -reqout "$A/$name.req" >/dev/null 2>&1 ||
		fail "openssl ocsp $* -reqout"
	code=$("${CURL[@]}" -o "$A/$name.der" -w '%{http_code}' \
		-H 'Content-Type: application/ocsp-request' \
		--data-binary @"$A/$name.req" "$PUB/ocsp")
	[ "$code" = 200 ] && pass || fail "OCSP $name: HTTP $code"
}

# --- certificates -----------------------------------------------------------------
cp "$D/ca/root.pem" "$A/root.pem"
cp "$D/ca/issuing.pem" "$A/issuing.pem"
cp "$D/ca/ocsp.pem" "$A/responder.pem"
openssl x509 -in "$D/tls/server.pem" -out "$A/tls.pem"
cp "$D/admin/admin.pem" "$A/admin.pem"
# The CA certificates as served are the files.
for c in root issuing; do
	fetch "$PUB/ca/$c.crt" "$A/$c.crt"
	check "/ca/$c.crt is var/ca/$c.pem" cmp "$A/$c.crt" \
		<(openssl x509 -in "$A/$c.pem" -outform DER)
done
# The empty CRLs, before any revocation.
fetch "$PUB/crl/issuing.crl" "$A/issuing-empty.crl"
fetch "$PUB/crl/root.crl" "$A/root.crl"

EST_ARGS=("$D" "$EST")
enroll "${EST_ARGS[@]}" dev-p256 conf-p256 ec:P-256 "" URI:urn:dev:conf-p256
enroll "${EST_ARGS[@]}" dev-p384 conf-p384 ec:P-384 "" URI:urn:dev:conf-p384
enroll "${EST_ARGS[@]}" dev-rsa conf-rsa rsa:3072
enroll "${EST_ARGS[@]}" dev-revoked conf-revoked ec:P-256
# A gateway names its id; its names come from the policy's templates.
enroll "${EST_ARGS[@]}" gateway gw1 ec:P-256 gateway \
	"DNS:gw1.gw.tessera.invalid"
openssl req -new $(newkey ec:P-256) -nodes -keyout "$A/station.key" \
	-subj "/CN=conf-station" -out "$A/station.csr" 2>/dev/null
check "issue the station certificate" tessera issue --data "$D" \
	--csr "$A/station.csr" --profile station --out "$A/station.pem"

# serverkeygen: the key and the certificate parts of the multipart answer.
openssl req -new $(newkey ec:P-256) -nodes -keyout "$T/kg.csrkey" \
	-subj "/CN=conf-kg" -outform DER -out "$A/kg.csr" 2>/dev/null
s=$(tessera secret --data "$D" --device conf-kg 2>>"$T/secret.err" | tail -1)
code=$(base64 -w0 "$A/kg.csr" | "${CURL[@]}" --cacert "$D/ca/chain.pem" \
	-D "$A/kg.hdr" -o "$A/kg.body" -w '%{http_code}' -u "conf-kg:$s" \
	-H 'Content-Type: application/pkcs10' --data-binary @- "$EST/serverkeygen")
[ "$code" = 200 ] && pass || fail "serverkeygen: HTTP $code"
"$PY" - "$A" <<'EOF' && pass || fail "serverkeygen: the answer is not two base64 parts"
import base64, email.parser, os, sys
a = sys.argv[1]
hdr = open(os.path.join(a, "kg.hdr"), "rb").read().split(b"\r\n", 1)[1]
msg = email.parser.BytesParser().parsebytes(hdr + open(
    os.path.join(a, "kg.body"), "rb").read())
parts = msg.get_payload()
assert parts[0].get_content_type() == "application/pkcs8"
assert parts[1].get_content_type() == "application/pkcs7-mime"
open(os.path.join(a, "kg.key.der"), "wb").write(
    base64.b64decode(parts[0].get_payload()))
open(os.path.join(a, "kg.p7"), "wb").write(
    base64.b64decode(parts[1].get_payload()))
EOF
openssl pkcs7 -inform DER -in "$A/kg.p7" -print_certs 2>/dev/null |
	openssl x509 -out "$A/kg.pem" 2>/dev/null

# --- EST answers, metadata ---------------------------------------------------
"${CURL[@]}" --cacert "$D/ca/chain.pem" "$EST/cacerts" | base64 -d >"$A/cacerts.p7"
check "cacerts" test -s "$A/cacerts.p7"
for l in device gateway; do
	"${CURL[@]}" --cacert "$D/ca/chain.pem" "$EST/$l/csrattrs" |
		base64 -d >"$A/csrattrs-$l.der"
	check "csrattrs ($l)" test -s "$A/csrattrs-$l.der"
done
fetch "$PUB/.well-known/oauth-authorization-server" "$A/oauth-metadata.json"
fetch "$PUB/.well-known/openid-configuration" "$A/openid-metadata.json"

# --- what comes from a CSR: normalised or refused --------------------------------
# CSRs a strict relying party would choke on if copied (RFC 5280 §4.1.2.6
# and App. A string types; NIST SP 800-89 exponent; RFC 9525 §6 names of
# a serverAuth certificate). Each must be refused with a 4xx, or what is
# issued must pass every rule above (then check.py checks it).
"$PY" - "$A" <<'PYEOF' || fail "making the hostile CSRs"
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
a = sys.argv[1]


def csr(name, attrs, key=None, san=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), False)
    with open("%s/%s.csr" % (a, name), "wb") as f:
        f.write(b.sign(key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER))
    with open("%s/%s.key" % (a, name), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def cn(v, t=_ASN1Type.UTF8String):
    return x509.NameAttribute(NameOID.COMMON_NAME, v, _type=t)


csr("h-ia5", [cn("h-ia5", _ASN1Type.IA5String)])
csr("h-bmp", [cn("h-bmp", _ASN1Type.BMPString)])
csr("h-t61", [cn("h-t61", _ASN1Type.T61String)])
csr("h-printable", [cn("h-printable", _ASN1Type.PrintableString)])
csr("h-sn", [cn("h-sn"), x509.NameAttribute(
    NameOID.SERIAL_NUMBER, "1234", _type=_ASN1Type.UTF8String)])
csr("h-e3", [cn("h-e3")], key=rsa.generate_private_key(3, 3072))
csr("h-gwnosan", [cn("h-gwnosan")])
csr("h-gwcn", [cn("h-gwcn")], san=[x509.DNSName("other.example")])
PYEOF
HOSTILE=
# hostile NAME [LABEL]: enroll $A/NAME.csr as device NAME.
hostile() {
	local name=$1 label=${2:-} s code prof=()
	[ -n "$label" ] && prof=(--profile "$label")
	s=$(tessera secret --data "$D" --device "$name" "${prof[@]}" \
		2>>"$T/secret.err" | tail -1)
	code=$(base64 -w0 "$A/$name.csr" | "${CURL[@]}" --cacert "$D/ca/chain.pem" \
		-o "$A/$name.out" -w '%{http_code}' -u "$name:$s" \
		-H 'Content-Type: application/pkcs10' --data-binary @- \
		"$EST/${label:+$label/}simpleenroll")
	case $code in
	200)
		base64 -d "$A/$name.out" | openssl pkcs7 -inform DER -print_certs \
			2>/dev/null | openssl x509 -out "$A/$name.pem" 2>/dev/null &&
			pass || fail "$name: 200 without a certificate"
		HOSTILE="$HOSTILE $name:${label:-device}"
		echo "issued $name: its certificate goes through check.py" ;;
	4??)
		pass
		echo "refused $name: $code $(head -c 160 "$A/$name.out")" ;;
	*) fail "$name: HTTP $code $(head -c 200 "$A/$name.out")" ;;
	esac
}
for h in h-ia5 h-bmp h-t61 h-printable h-sn h-e3; do hostile "$h"; done
hostile h-gwnosan gateway
hostile h-gwcn gateway

# --- revocation: the full CRL and OCSP -----------------------------------------
REVOKED=$(serial_of "$A/dev-revoked.pem")
revoke "$D" "$API" "$A/dev-revoked.pem" keyCompromise
crl_lists "$PUB/crl/issuing.crl" "$REVOKED" && pass ||
	fail "the issuing CRL does not list $REVOKED within 10 s"
fetch "$PUB/crl/issuing.crl" "$A/issuing-full.crl"

I=(-issuer "$A/issuing.pem")
ocsp_post ocsp-good-sha1 "${I[@]}" -cert "$A/dev-p256.pem" -no_nonce
ocsp_post ocsp-good-sha256 "${I[@]}" -sha256 -cert "$A/dev-rsa.pem" -no_nonce
ocsp_post ocsp-nonce "${I[@]}" -sha256 -cert "$A/dev-p384.pem" -nonce
ocsp_post ocsp-revoked "${I[@]}" -sha256 -cert "$A/dev-revoked.pem" -no_nonce
ocsp_post ocsp-never "${I[@]}" -sha256 \
	-serial 0x5EADBEEF0123456789ABCDEF00112233 -no_nonce
# A CA tessera does not serve: unauthorized (RFC 6960 §2.3), unsigned.
openssl req -x509 -new $(newkey ec:P-256) -nodes -keyout "$T/other.key" \
	-subj "/CN=Another CA" -days 2 -out "$A/other-ca.pem" 2>/dev/null
ocsp_post ocsp-other-ca -issuer "$A/other-ca.pem" -serial 0x1234 -no_nonce
# Junk: malformedRequest (RFC 6960 §2.3), unsigned.
printf '\x30\x03\x02\x01\x01' >"$A/ocsp-malformed.req"
code=$("${CURL[@]}" -o "$A/ocsp-malformed.der" -w '%{http_code}' \
	-H 'Content-Type: application/ocsp-request' \
	--data-binary @"$A/ocsp-malformed.req" "$PUB/ocsp")
[ "$code" = 200 ] || [ "$code" = 400 ] && pass ||
	fail "OCSP junk: HTTP $code"
# GET, as nginx asks: SHA-1, no nonce, base64 in the path (RFC 6960 App. A).
openssl ocsp "${I[@]}" -cert "$A/gateway.pem" -no_nonce \
	-reqout "$A/ocsp-get.req" >/dev/null 2>&1
code=$("${CURL[@]}" -o "$A/ocsp-get.der" -w '%{http_code}' "$PUB/ocsp/$(
	base64 -w0 "$A/ocsp-get.req" | sed 's/+/%2B/g; s,/,%2F,g; s/=/%3D/g')")
[ "$code" = 200 ] && pass || fail "OCSP GET: HTTP $code"

# A renewal over mutual TLS (RFC 7030 §4.2.2): same names, a new key.
openssl req -new $(newkey ec:P-256) -nodes -keyout "$A/dev-renewed.key" \
	-subj "/CN=conf-p256" -addext "subjectAltName=URI:urn:dev:conf-p256" \
	-outform DER -out "$A/dev-renewed.csr" 2>/dev/null
code=$(base64 -w0 "$A/dev-renewed.csr" | "${CURL[@]}" --cacert "$D/ca/chain.pem" \
	--cert "$A/dev-p256.pem" --key "$A/dev-p256.key" -o "$A/dev-renewed.p7.b64" \
	-w '%{http_code}' -H 'Content-Type: application/pkcs10' --data-binary @- \
	"$EST/simplereenroll")
[ "$code" = 200 ] && base64 -d "$A/dev-renewed.p7.b64" |
	openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	openssl x509 -out "$A/dev-renewed.pem" 2>/dev/null && pass ||
	fail "simplereenroll: HTTP $code"

# --- the sharded service -------------------------------------------------------
stop_server "$MAIN_PID"
# tessera's own renewals, offline: the TLS and responder certificates.
check "tessera renew" tessera renew --data "$D"
openssl x509 -in "$D/tls/server.pem" -out "$A/tls-renewed.pem"
cp "$D/ca/ocsp.pem" "$A/responder-renewed.pem"
check "the TLS certificate was renewed" bash -c \
	"! cmp -s '$A/tls.pem' '$A/tls-renewed.pem'"
if ! start_server "$D2" "$Q1" "$Q2"; then
	fail "the sharded server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass
SHARD_PID=$SERVER_PID
cp "$D2/ca/root.pem" "$A/s-root.pem"
cp "$D2/ca/issuing.pem" "$A/s-issuing.pem"
# Eight devices over four shards, two revoked.
for i in 1 2 3 4 5 6 7 8; do
	enroll "$D2" "https://localhost:$Q1/.well-known/est" "s-dev$i" \
		"shard-$i" ec:P-256
done
for i in 2 5; do
	revoke "$D2" "https://localhost:$Q1/api/v1" "$A/s-dev$i.pem" \
		keyCompromise
done
# Each device's shard, from its CDP.
cdp_of() {
	openssl x509 -in "$1" -noout -ext crlDistributionPoints 2>/dev/null |
		sed -n 's/.*URI:\(http[^ ]*\).*/\1/p' | head -1
}
for i in 2 5; do
	url=$(cdp_of "$A/s-dev$i.pem")
	crl_lists "$url" "$(serial_of "$A/s-dev$i.pem")" && pass ||
		fail "$url does not list s-dev$i within 10 s"
done
for k in 0 1 2 3; do
	fetch "$PUB2/crl/issuing-$k.crl" "$A/shard-$k.crl"
done
fetch "$PUB2/crl/root.crl" "$A/s-root.crl"
# Beside the shards, issuing.crl is the whole list (no IDP). Each CRL of a
# build reads the store as it is built, the full list first: a revocation
# committed during a build can be in its shard before it is in the full
# list, which the next build brings up to date. So wait for that too.
for i in 2 5; do
	crl_lists "$PUB2/crl/issuing.crl" "$(serial_of "$A/s-dev$i.pem")" &&
		pass || fail "issuing.crl does not list s-dev$i within 10 s"
done
fetch "$PUB2/crl/issuing.crl" "$A/s-issuing-full.crl"
stop_server "$SHARD_PID"

# --- the manifest ----------------------------------------------------------------
"$PY" - "$A" "$PUB" "$PUB2" "$HOSTILE" <<'EOF' || fail "writing the manifest"
import json, os, re, subprocess, sys
a, pub, pub2, hostile = sys.argv[1:5]


def serial(name):
    out = subprocess.run(["openssl", "x509", "-in", os.path.join(a, name + ".pem"),
                          "-noout", "-serial"], capture_output=True,
                         text=True).stdout
    return out.strip().split("=")[1]


def cdp(name):
    out = subprocess.run(["openssl", "x509", "-in", os.path.join(a, name + ".pem"),
                          "-noout", "-ext", "crlDistributionPoints"],
                         capture_output=True, text=True).stdout
    return re.search(r"URI:(\S+)", out).group(1)


def cert(name, kind, issuer, key=None, publish=pub):
    c = {"name": name, "file": name + ".pem", "kind": kind, "issuer": issuer,
         "publish": publish}
    if key:
        c["key"] = key
    return c


certs = [cert("root", "root", "root"), cert("issuing", "issuing", "root"),
         cert("responder", "responder", "issuing"),
         cert("tls", "tls", "issuing"), cert("admin", "admin", "issuing"),
         cert("dev-p256", "device", "issuing", "ec:P-256"),
         cert("dev-p384", "device", "issuing", "ec:P-384"),
         cert("dev-rsa", "device", "issuing", "rsa:3072"),
         cert("dev-revoked", "device", "issuing", "ec:P-256"),
         cert("gateway", "gateway", "issuing", "ec:P-256"),
         cert("station", "station", "issuing", "ec:P-256"),
         cert("kg", "device", "issuing", "ec:P-256"),
         cert("dev-renewed", "device", "issuing", "ec:P-256"),
         cert("tls-renewed", "tls", "issuing"),
         cert("responder-renewed", "responder", "issuing"),
         cert("s-root", "root", "s-root", publish=pub2),
         cert("s-issuing", "issuing", "s-root", publish=pub2)]
# The hostile CSRs that were issued: the certificates must conform.
for h in hostile.split():
    n, label = h.split(":")
    certs.append(cert(n, label, "issuing",
                      "rsa:3072" if n == "h-e3" else "ec:P-256"))
shards = {}
for i in range(1, 9):
    n = "s-dev%d" % i
    certs.append(cert(n, "device", "s-issuing", "ec:P-256", pub2))
    shards.setdefault(cdp(n), []).append((n, i in (2, 5)))
crls = [{"name": "issuing-empty", "file": "issuing-empty.crl",
         "issuer": "issuing", "revoked": [],
         "not_revoked": [serial("dev-p256")]},
        {"name": "issuing-full", "file": "issuing-full.crl",
         "issuer": "issuing", "revoked": [serial("dev-revoked")],
         "not_revoked": [serial("dev-p256"), serial("dev-rsa")]},
        {"name": "root-crl", "file": "root.crl", "issuer": "root",
         "not_revoked": [serial("issuing")]},
        {"name": "s-root-crl", "file": "s-root.crl", "issuer": "s-root"},
        {"name": "s-issuing-full", "file": "s-issuing-full.crl",
         "issuer": "s-issuing",
         "revoked": [serial("s-dev2"), serial("s-dev5")],
         "not_revoked": [serial("s-dev%d" % i) for i in (1, 3, 4, 6, 7, 8)]}]
for k in range(4):
    url = "%s/crl/issuing-%d.crl" % (pub2, k)
    mine = shards.get(url, [])
    crls.append({"name": "shard-%d" % k, "file": "shard-%d.crl" % k,
                 "issuer": "s-issuing", "shard": k, "url": url,
                 "revoked": [serial(n) for n, r in mine if r],
                 "not_revoked": [serial(n) for n, r in mine if not r]})
# Every CDP a device names is one of the four shards.
assert set(shards) <= {"%s/crl/issuing-%d.crl" % (pub2, k) for k in range(4)}, shards


def resp(name, expect, h, **kw):
    d = {"name": name, "file": name + ".der", "request": name + ".req",
         "issuer": "issuing", "responder": "responder", "expect": expect,
         "hash": h}
    d.update(kw)
    return d


ocsp = [resp("ocsp-good-sha1", "good", "sha1"),
        resp("ocsp-good-sha256", "good", "sha256"),
        resp("ocsp-nonce", "good", "sha256"),
        resp("ocsp-revoked", "revoked", "sha256", reason="key_compromise"),
        resp("ocsp-never", "never-issued", "sha256"),
        resp("ocsp-get", "good", "sha1"),
        {"name": "ocsp-other-ca", "file": "ocsp-other-ca.der",
         "status": "UNAUTHORIZED"},
        {"name": "ocsp-malformed", "file": "ocsp-malformed.der",
         "status": "MALFORMED_REQUEST"}]
p7 = [{"name": "cacerts", "file": "cacerts.p7", "certs": ["issuing", "root"]},
      {"name": "enroll-answer", "file": "dev-p256.p7", "certs": ["dev-p256"]},
      {"name": "serverkeygen-answer", "file": "kg.p7", "certs": ["kg"]}]
csrattrs = [{"name": "csrattrs-%s" % l, "file": "csrattrs-%s.der" % l,
             "want": ["1.2.840.10045.2.1", "1.2.840.10045.4.3.2"]}
            for l in ("device", "gateway")]
keys = [{"name": "serverkeygen-key", "file": "kg.key.der", "cert": "kg"}]
required = ["issuer", "token_endpoint", "jwks_uri",
            "response_types_supported", "grant_types_supported"]
metadata = [{"name": "oauth-metadata", "file": "oauth-metadata.json",
             "required": required},
            {"name": "openid-metadata", "file": "openid-metadata.json",
             "required": required + ["subject_types_supported"]}]
json.dump({"publish": pub, "certs": certs, "crls": crls, "ocsp": ocsp,
           "p7": p7, "csrattrs": csrattrs, "keys": keys,
           "metadata": metadata},
          open(os.path.join(a, "manifest.json"), "w"), indent=1)
EOF

# --- the independent parsers ---------------------------------------------------
# run_checks MANIFEST MIN: check.py over MANIFEST, each line printed and
# counted; at least MIN checks must have run.
run_checks() {
	local rc n line
	"$PY" "$(dirname "$0")/conformance/check.py" "$1" \
		>"$T/check.out" 2>"$T/check.err"
	rc=$?
	while IFS= read -r line; do
		echo "$line"
		case $line in
		PASS\ *) pass ;;
		FAIL\ *) FAILED=$((FAILED + 1)) ;;
		esac
	done <"$T/check.out"
	n=$(grep -c '^PASS ' "$T/check.out")
	[ "$n" -ge "$2" ] && pass || fail "check.py ran $n checks, want at least $2"
	if [ -s "$T/check.err" ] || { [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$T/check.out"; }; then
		fail "check.py exited $rc:"
		sed 's/^/    /' "$T/check.err" >&2
	fi
}
run_checks "$A/manifest.json" 300

# --- CA compromise, end to end with nginx ----------------------------------------
# nginx admits a device under the issuing CA with the CRL chain; the admin
# revokes the issuing CA (cACompromise); the root CRL lists it, signed by
# the root key (RFC 5280 §5.1.2.3, §6.3.3); after a reload nginx refuses
# the device, and tessera issues nothing more under the revoked CA.
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || NGINX=$(command -v nginx || true)
if [ -z "$NGINX" ]; then
	fail "nginx not found (set NGINX)"
	finish
	exit
fi
if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up again"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass
enroll "${EST_ARGS[@]}" dev-cc conf-cc ec:P-256

# --- a revoked OCSP responder ---------------------------------------------------
# Revoking the responder's certificate makes a new key and certificate
# that answer from then on; the old certificate is on the issuing CRL.
OLD_RESPONDER=$(serial_of "$A/responder.pem")
revoke "$D" "$API" "$A/responder.pem" keyCompromise
ok=0
for _ in $(seq 1 100); do
	cmp -s "$A/responder.pem" "$D/ca/ocsp.pem" || { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && pass || fail "var/ca/ocsp.pem was not replaced within 10 s"
cp "$D/ca/ocsp.pem" "$A/responder-new.pem"
ocsp_post ocsp-new-responder "${I[@]}" -sha256 -cert "$A/dev-p384.pem" -nonce
crl_lists "$PUB/crl/issuing.crl" "$OLD_RESPONDER" && pass ||
	fail "the issuing CRL does not list the old responder $OLD_RESPONDER"
fetch "$PUB/crl/issuing.crl" "$A/issuing-responder.crl"
"$PY" - "$A" "$PUB" "$OLD_RESPONDER" <<'PYEOF' || fail "writing the responder manifest"
import json, sys
a, pub, old = sys.argv[1:4]
certs = [{"name": "root", "file": "root.pem", "kind": "root",
          "issuer": "root", "publish": pub},
         {"name": "issuing", "file": "issuing.pem", "kind": "issuing",
          "issuer": "root", "publish": pub},
         {"name": "responder-new", "file": "responder-new.pem",
          "kind": "responder", "issuer": "issuing", "publish": pub}]
json.dump({"publish": pub, "certs": certs,
           "crls": [{"name": "issuing-crl-responder",
                     "file": "issuing-responder.crl", "issuer": "issuing",
                     "revoked": [old]}],
           "ocsp": [{"name": "ocsp-new-responder",
                     "file": "ocsp-new-responder.der",
                     "request": "ocsp-new-responder.req",
                     "issuer": "issuing", "responder": "responder-new",
                     "expect": "good", "hash": "sha256"}]},
          open(a + "/manifest-responder.json", "w"), indent=1)
PYEOF
run_checks "$A/manifest-responder.json" 80
# crl_chain_lists FILE SERIAL: one of the CRLs in the PEM FILE lists SERIAL.
crl_chain_lists() {
	local f=$1 s=$2 i=0 b
	rm -f "$T"/chain-crl.*
	awk -v d="$T" '/-----BEGIN X509 CRL-----/ { n++ }
		n { print > (d "/chain-crl." n) }' "$f"
	for b in "$T"/chain-crl.*; do
		[ -f "$b" ] || continue
		openssl crl -in "$b" -noout -text 2>/dev/null |
			grep -qi "Serial Number: *$s\$" && return 0
		i=$((i + 1))
	done
	return 1
}
N=$T/nginx
mkdir -p "$N/tmp"
cp "$D/crl/crl-chain.pem" "$N/crl.pem"
{
	nginx_conf_head "$N"
	cat <<NGX
	server {
		listen 127.0.0.1:$G1 ssl;
		server_name localhost;
		ssl_certificate $D/tls/server.pem;
		ssl_certificate_key $D/tls/server.key;
		ssl_verify_client on;
		ssl_client_certificate $D/ca/chain.pem;
		ssl_verify_depth 2;
		ssl_crl $N/crl.pem;
		default_type text/plain;
		location / { return 200 "admitted\n"; }
	}
	# OCSP for every certificate of the chain, the issuing CA too, asked
	# of the responder its AIA names; nothing cached, no reload.
	server {
		listen 127.0.0.1:$G2 ssl;
		server_name localhost;
		ssl_certificate $D/tls/server.pem;
		ssl_certificate_key $D/tls/server.key;
		ssl_verify_client on;
		ssl_client_certificate $D/ca/chain.pem;
		ssl_verify_depth 2;
		ssl_ocsp on;
		ssl_ocsp_cache off;
		default_type text/plain;
		location / { return 200 "admitted\n"; }
	}
}
NGX
} >"$N/nginx.conf"
NGX=("$NGINX" -p "$N" -c "$N/nginx.conf")
"${NGX[@]}" >"$N/stdout" 2>"$N/stderr" &
NGINX_PID=$!
cleanup_hooks+=("kill -TERM $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null")
ok=0
for _ in $(seq 1 100); do
	kill -0 "$NGINX_PID" 2>/dev/null || break
	[ -n "$(ss -ltnH "sport = :$G1" 2>/dev/null)" ] &&
		[ -n "$(ss -ltnH "sport = :$G2" 2>/dev/null)" ] && { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && pass || {
	fail "nginx did not start"
	sed 's/^/    /' "$N/stderr" "$N/error.log" >&2 2>/dev/null
}
# gw NAME [PORT]: a request with NAME's certificate; prints the status.
gw() {
	"${CURL[@]}" --cacert "$D/ca/chain.pem" -o "$T/gw.out" -w '%{http_code}' \
		--cert "$A/$1.pem" --key "$A/$1.key" "https://localhost:${2:-$G1}/" \
		2>>"$T/gw.err"
}
code=$(gw dev-cc)
[ "$code" = 200 ] && pass || fail "nginx (CRL): dev-cc before the compromise: HTTP $code, want 200"
code=$(gw dev-cc "$G2")
[ "$code" = 200 ] && pass || {
	fail "nginx (ssl_ocsp on): dev-cc before the compromise: HTTP $code, want 200"
	tail -5 "$N/error.log" | sed 's/^/    /' >&2
}

ISSUING=$(serial_of "$A/issuing.pem")
revoke "$D" "$API" "$A/issuing.pem" cACompromise
if crl_lists "$PUB/crl/root.crl" "$ISSUING" 10; then
	pass
	fetch "$PUB/crl/root.crl" "$A/root-compromise.crl"
	# GnuTLS, given the root CRL, calls the issuing CA revoked.
	openssl crl -inform DER -in "$A/root-compromise.crl" \
		-out "$T/root-compromise.pem" 2>/dev/null
	cat "$A/dev-cc.pem" "$A/issuing.pem" >"$T/cc-chain.pem"
	certtool --verify --load-ca-certificate "$A/root.pem" \
		--load-crl "$T/root-compromise.pem" --infile "$T/cc-chain.pem" \
		>"$T/cc-gnutls.out" 2>&1
	grep -q 'Chain verification output: Not verified.*revoked' \
		"$T/cc-gnutls.out" && pass || {
		fail "certtool --verify with the root CRL does not call the chain revoked"
		sed 's/^/    /' "$T/cc-gnutls.out" >&2
	}
	# The CRL chain nginx reads: wait for it to carry the new root CRL.
	ok=0
	for _ in $(seq 1 100); do
		crl_chain_lists "$D/crl/crl-chain.pem" "$ISSUING" && { ok=1; break; }
		sleep 0.1
	done
	[ "$ok" = 1 ] && pass || fail "crl-chain.pem does not list the issuing CA"
	cp "$D/crl/crl-chain.pem" "$N/crl.pem.new" && mv "$N/crl.pem.new" "$N/crl.pem"
	check "nginx -s reload" "${NGX[@]}" -s reload
	code=
	for _ in $(seq 1 100); do
		code=$(gw dev-cc)
		[ "$code" = 400 ] && break
		sleep 0.1
	done
	[ "$code" = 400 ] && pass ||
		fail "nginx (CRL): dev-cc under the revoked issuing CA: HTTP $code, want 400"
	# By OCSP: at once, no reload; the issuing CA's status comes from the
	# root (the OCSP URL in the issuing CA's AIA).
	code=$(gw dev-cc "$G2")
	[ "$code" = 400 ] && pass ||
		fail "nginx (ssl_ocsp on): dev-cc under the revoked issuing CA: HTTP $code, want 400"
	grep -q 'certificate revoked' "$N/error.log" && pass ||
		fail "nginx's error.log does not say 'certificate revoked'"
	# Nothing more is issued under the revoked CA.
	openssl req -new $(newkey ec:P-256) -nodes -keyout "$T/cc2.key" \
		-subj "/CN=conf-cc2" -outform DER -out "$T/cc2.csr" 2>/dev/null
	s=$(tessera secret --data "$D" --device conf-cc2 2>>"$T/secret.err" | tail -1)
	code=$(base64 -w0 "$T/cc2.csr" | "${CURL[@]}" --cacert "$D/ca/chain.pem" \
		-o "$T/cc2.out" -w '%{http_code}' -u "conf-cc2:$s" \
		-H 'Content-Type: application/pkcs10' --data-binary @- \
		"$EST/simpleenroll")
	[ "$code" = 503 ] && grep -qi revoked "$T/cc2.out" && pass ||
		fail "enrollment under the revoked issuing CA: HTTP $code, want 503 that says revoked: $(head -c 200 "$T/cc2.out")"
	# OCSP for the issuing CA: revoked, cACompromise, signed for the root.
	openssl ocsp -issuer "$A/root.pem" -cert "$A/issuing.pem" -no_nonce \
		-reqout "$A/ocsp-ca.req" >/dev/null 2>&1
	code=$("${CURL[@]}" -o "$A/ocsp-ca.der" -w '%{http_code}' \
		-H 'Content-Type: application/ocsp-request' \
		--data-binary @"$A/ocsp-ca.req" "$PUB/ocsp")
	[ "$code" = 200 ] && pass || fail "OCSP for the issuing CA: HTTP $code"
	# The root CRL and the CA's OCSP answer, rule by rule: listed with
	# cACompromise, signed by the root (RFC 5280 §5.1.2.3; RFC 6960
	# §4.2.2.2: the CA that issued the certificate answers for it).
	"$PY" - "$A" "$PUB" "$ISSUING" <<'PYEOF' || fail "writing the compromise manifest"
import json, sys
a, pub, issuing = sys.argv[1:4]
certs = [{"name": "root", "file": "root.pem", "kind": "root",
          "issuer": "root", "publish": pub},
         {"name": "issuing", "file": "issuing.pem", "kind": "issuing",
          "issuer": "root", "publish": pub},
         {"name": "dev-cc", "file": "dev-cc.pem", "kind": "device",
          "issuer": "issuing", "key": "ec:P-256", "publish": pub}]
json.dump({"publish": pub, "certs": certs,
           "crls": [{"name": "root-crl-compromise",
                     "file": "root-compromise.crl", "issuer": "root",
                     "revoked": [issuing]}],
           "ocsp": [{"name": "ocsp-issuing-ca", "file": "ocsp-ca.der",
                     "request": "ocsp-ca.req", "issuer": "root",
                     "responder": "root", "expect": "revoked",
                     "reason": "ca_compromise", "hash": "sha1"}]},
          open(a + "/manifest-compromise.json", "w"), indent=1)
PYEOF
	run_checks "$A/manifest-compromise.json" 80
else
	fail "the root CRL does not list the revoked issuing CA $ISSUING within 10 s (RFC 5280 §5.1.2.3)"
fi

if grep -E '\[(emerg|alert|crit)\]' "$N/error.log" >&2; then
	fail "nginx logged emerg/alert/crit errors"
else pass; fi
stop_server
finish
