#!/usr/bin/env bash
# A P-256 root (init --root-curve P-256), for fleets whose devices verify
# P-256 only or verify it faster. The root's key, and every signature it
# makes, are P-256 with SHA-256: its own certificate, the issuing CA's,
# the root CRL, the OCSP answer for the issuing CA, and the issuing CA of a
# rollover. Relying parties accept the chain: openssl, GnuTLS
# (certtool --verify-chain), Python's cryptography (each signature checked
# with its issuer's key), and curl enrolling a device over TLS. The
# default stays P-384 with SHA-384. Refused, leaving nothing behind: a
# curve tessera does not make, and --root-curve with --offline-root.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
read -r P1 P2 < <(pick_ports 2)
PUB=http://127.0.0.1:$P2

# sigalg x509|crl FILE: the signature algorithm openssl names.
sigalg() {
	openssl "$1" -in "$2" -noout -text 2>/dev/null |
		sed -n 's/^ *Signature Algorithm: //p' | head -1
}
curve() { openssl x509 -in "$1" -noout -text | sed -n 's/^ *NIST CURVE: //p'; }
want() { # WHAT GOT WANT
	[ "$2" = "$3" ] && pass || fail "$1: $2, want $3"
}

refuse "an unknown curve" "--root-curve takes P-256 or P-384, not P-521" \
	tessera init --data "$T/r1" --root-curve P-521
refuse "--root-curve with --offline-root" \
	"with --offline-root no root key is made here" \
	tessera init --data "$T/r2" --root-curve P-256 --offline-root
for r in r1 r2; do
	[ ! -e "$T/$r" ] && pass || fail "refused init left $T/$r"
done

check "init (default root)" tessera init --data "$T/p384"
want "the default root key" "$(curve "$T/p384/ca/root.pem")" P-384
want "the default root's signature on the issuing CA" \
	"$(sigalg x509 "$T/p384/ca/issuing.pem")" ecdsa-with-SHA384

check "init --root-curve P-256" tessera init --data "$D" --root-curve P-256
want "the root key" "$(curve "$D/ca/root.pem")" P-256
want "the root's self-signature" "$(sigalg x509 "$D/ca/root.pem")" \
	ecdsa-with-SHA256
want "the root's signature on the issuing CA" \
	"$(sigalg x509 "$D/ca/issuing.pem")" ecdsa-with-SHA256
check "openssl verifies the issuing CA" \
	openssl verify -CAfile "$D/ca/root.pem" "$D/ca/issuing.pem"

start_server "$D" "$P1" "$P2" 2 || {
	fail "server did not start"
	finish
	exit 1
}

# A device enrolls over TLS (curl verifies tessera's chain to the root).
csr dev1 /CN=rc-dev-1
openssl req -in "$T/dev1.csr" -outform DER | base64 -w0 >"$T/dev1.b64"
S1=$(tessera secret --data "$D" --device rc-dev-1 2>/dev/null | tail -1)
code=$(curl -sS --cacert "$D/ca/chain.pem" -o "$T/dev1.p7" -w '%{http_code}' \
	-u "rc-dev-1:$S1" -H 'Content-Type: application/pkcs10' \
	--data-binary @"$T/dev1.b64" \
	"https://localhost:$P1/.well-known/est/simpleenroll")
want "enrollment under a P-256 root" "$code" 200
base64 -d "$T/dev1.p7" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	openssl x509 -out "$T/dev1.pem" 2>/dev/null
check "openssl verifies the device" openssl verify -CAfile "$D/ca/root.pem" \
	-untrusted "$D/ca/issuing.pem" "$T/dev1.pem"
cat "$T/dev1.pem" "$D/ca/issuing.pem" "$D/ca/root.pem" >"$T/chain3.pem"
certtool --verify-chain --infile "$T/chain3.pem" >"$T/certtool.out" 2>&1
grep -q "Chain verification output: Verified" "$T/certtool.out" && pass ||
	{ fail "GnuTLS does not verify the chain"; cat "$T/certtool.out" >&2; }

# The root CRL and the OCSP answer for the issuing CA: the root signs
# both with SHA-256.
check "the root CRL" curl -sSf -o "$T/root.crl" "$PUB/crl/root.crl"
openssl crl -inform DER -in "$T/root.crl" -out "$T/root-crl.pem"
want "the root CRL's signature" "$(sigalg crl "$T/root-crl.pem")" \
	ecdsa-with-SHA256
openssl crl -in "$T/root-crl.pem" -CAfile "$D/ca/root.pem" -noout \
	>"$T/crl.out" 2>&1
grep -q "verify OK" "$T/crl.out" && pass ||
	{ fail "openssl does not verify the root CRL"; cat "$T/crl.out" >&2; }
openssl ocsp -issuer "$D/ca/root.pem" -cert "$D/ca/issuing.pem" \
	-url "$PUB/ocsp" -CAfile "$D/ca/root.pem" -resp_text \
	>"$T/ocsp.out" 2>&1
grep -q "^Response verify OK" "$T/ocsp.out" &&
	grep -q "issuing.pem: good" "$T/ocsp.out" && pass ||
	{ fail "the root's OCSP answer for the issuing CA"; cat "$T/ocsp.out" >&2; }
want "the root's OCSP signature" \
	"$(sed -n 's/^ *Signature Algorithm: //p' "$T/ocsp.out" | head -1)" \
	ecdsa-with-SHA256

# Python's cryptography: each signature with its issuer's key.
python3 - "$T/dev1.pem" "$D/ca/issuing.pem" "$D/ca/root.pem" \
	"$T/root.crl" >"$T/py.out" 2>&1 <<'PYEOF' && pass ||
import sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
dev, issuing, root = (x509.load_pem_x509_certificate(open(p, "rb").read())
                      for p in sys.argv[1:4])
for child, parent in ((dev, issuing), (issuing, root), (root, root)):
    parent.public_key().verify(child.signature, child.tbs_certificate_bytes,
                               ec.ECDSA(child.signature_hash_algorithm))
assert root.public_key().curve.name == "secp256r1", root.public_key().curve.name
assert issuing.signature_hash_algorithm.name == "sha256"
crl = x509.load_der_x509_crl(open(sys.argv[4], "rb").read())
assert crl.is_signature_valid(root.public_key())
assert crl.signature_hash_algorithm.name == "sha256"
PYEOF
	{ fail "Python's cryptography on the P-256 chain"; cat "$T/py.out" >&2; }

# A rollover: the root certifies the new issuing CA with SHA-256 too.
check "ca rollover" tessera ca rollover --data "$D"
want "the root's signature on the new issuing CA" \
	"$(sigalg x509 "$D/ca/issuing.pem")" ecdsa-with-SHA256
check "openssl verifies the new issuing CA" \
	openssl verify -CAfile "$D/ca/root.pem" "$D/ca/issuing.pem"
grep -q "Issuing CA 2" <(openssl x509 -in "$D/ca/issuing.pem" -noout -subject) &&
	pass || fail "ca/issuing.pem is not the new issuing CA"
stop_server
finish
