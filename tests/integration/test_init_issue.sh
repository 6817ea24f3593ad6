#!/usr/bin/env bash
# tessera init + tessera issue on a fresh embedded SoftHSMv2 token: the
# chain verifies with openssl, the leaf carries the profile's extensions,
# the five keys are in the token and not extractable, no CA private key is
# in any file, and bad input changes nothing.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }

check "init" tessera init --data "$D" --name "Acme Devices"
for f in ca/root.pem ca/issuing.pem ca/chain.pem ca/ocsp.pem ca/audit.pub.pem \
	tls/server.pem tls/server.key admin/admin.pem admin/admin.key tessera.json \
	tessera.db policy.json hsm/user.pin hsm/so.pin hsm/softhsm2.conf; do
	[ -s "$D/$f" ] && pass || fail "init did not write $f"
done
for f in tls/server.key admin/admin.key hsm/user.pin hsm/so.pin \
	tessera.db tessera.json; do
	mode_is "$D/$f" 600 && pass || fail "$f is mode $(stat -c %a "$D/$f"), want 600"
done

# The chain: root self-signed, issuing under root with pathlen 0.
check "root verifies itself" openssl verify -CAfile "$D/ca/root.pem" "$D/ca/root.pem"
check "issuing verifies" openssl verify -CAfile "$D/ca/root.pem" "$D/ca/issuing.pem"
openssl x509 -in "$D/ca/issuing.pem" -noout -text >"$T/issuing.txt"
grep -q "CA:TRUE, pathlen:0" "$T/issuing.txt" && pass || fail "issuing CA lacks pathlen:0"
openssl x509 -in "$D/ca/root.pem" -noout -text >"$T/root.txt"
grep -q "ASN1 OID: secp384r1" "$T/root.txt" && pass || fail "root key is not P-384"
check "chain.pem is issuing then root" bash -c "
	openssl crl2pkcs7 -nocrl -certfile '$D/ca/chain.pem' |
	openssl pkcs7 -print_certs -noout | grep subject= | head -1 | grep -q 'Issuing CA'"
check "TLS server certificate verifies" openssl verify -CAfile "$D/ca/root.pem" \
	-untrusted "$D/ca/issuing.pem" -purpose sslserver "$D/tls/server.pem"
check "admin certificate verifies" openssl verify -CAfile "$D/ca/root.pem" \
	-untrusted "$D/ca/issuing.pem" -purpose sslclient "$D/admin/admin.pem"
check "OCSP responder verifies" openssl verify -CAfile "$D/ca/root.pem" \
	-untrusted "$D/ca/issuing.pem" "$D/ca/ocsp.pem"
openssl x509 -in "$D/ca/ocsp.pem" -noout -text >"$T/ocsp.txt"
grep -q "OCSP Signing" "$T/ocsp.txt" && grep -q "OCSP No Check" "$T/ocsp.txt" &&
	pass || fail "responder lacks OCSPSigning or ocsp-nocheck"

# Issue a device certificate.
csr dev1 "/CN=device-0001" -addext "subjectAltName=URI:urn:dev:device-0001" \
	-addext "basicConstraints=critical,CA:TRUE"
check "issue" tessera issue --data "$D" --csr "$T/dev1.csr" --profile device \
	--out "$T/dev1.pem"
check "leaf verifies against chain.pem" openssl verify -CAfile "$D/ca/chain.pem" \
	-purpose sslclient "$T/dev1.pem"
openssl x509 -in "$T/dev1.pem" -noout -text >"$T/dev1.txt"
want=(
	"X509v3 Basic Constraints: critical" "CA:FALSE"
	"X509v3 Key Usage: critical" "Digital Signature"
	"TLS Web Client Authentication"
	"X509v3 Subject Key Identifier" "X509v3 Authority Key Identifier"
	"URI:urn:dev:device-0001"
	"URI:http://127.0.0.1:8080/crl/issuing.crl"
	"OCSP - URI:http://127.0.0.1:8080/ocsp"
	"CA Issuers - URI:http://127.0.0.1:8080/ca/issuing.crt"
	"Subject: CN = device-0001"
)
for w in "${want[@]}"; do
	grep -qF "$w" "$T/dev1.txt" && pass || fail "leaf lacks '$w'"
done
# The CSR asked for CA:TRUE; extensions come from the profile only.
grep -q "CA:TRUE" "$T/dev1.txt" && fail "CSR extension was copied" || pass
serial=$(openssl x509 -in "$T/dev1.pem" -noout -serial | cut -d= -f2)
[ ${#serial} -eq 32 ] && pass || fail "serial $serial is not 16 bytes"
days=$(( ($(date -d "$(openssl x509 -in "$T/dev1.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))
[ "$days" -ge 29 ] && [ "$days" -le 30 ] && pass || fail "device validity $days days, want 30"
count=$(sqlite3 "$D/tessera.db" "select count(*) from certificates where serial='$serial' and device_id='device-0001' and profile='device'")
[ "$count" = 1 ] && pass || fail "issued certificate not in the store"

# The five keys are in the token, sensitive and never extractable.
export SOFTHSM2_CONF=$D/hsm/softhsm2.conf
pkcs11-tool --module "${TESSERA_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}" \
	--token-label tessera --login --pin "$(cat "$D/hsm/user.pin")" \
	--list-objects --type privkey >"$T/objects.txt" 2>&1
for label in tessera-root-ca tessera-issuing-ca tessera-ocsp-responder \
	tessera-token-signing tessera-audit-signing; do
	if awk -v l="$label" '$0 ~ "label: *"l"$" {f=1} f && /Access:/ {print; exit}' \
		"$T/objects.txt" | grep -q "never extractable"; then
		awk -v l="$label" '$0 ~ "label: *"l"$" {f=1} f && /Access:/ {print; exit}' \
			"$T/objects.txt" | grep -q "sensitive" && pass ||
			fail "$label is not sensitive"
	else
		fail "$label missing or extractable"; cat "$T/objects.txt" >&2
	fi
done
nkeys=$(grep -c "^Private Key Object" "$T/objects.txt")
[ "$nkeys" = 5 ] && pass || fail "token holds $nkeys private keys, want 5"

# No CA private key in any file: the only PEM private keys are the TLS
# server's and the admin's, and neither matches a CA certificate.
found=$(grep -rl "PRIVATE KEY" "$D" | sort | tr '\n' ' ')
[ "$found" = "$D/admin/admin.key $D/tls/server.key " ] && pass ||
	fail "private keys in files: $found"
for ca in root issuing ocsp; do
	for k in tls/server.key admin/admin.key; do
		a=$(openssl x509 -in "$D/ca/$ca.pem" -noout -pubkey)
		b=$(openssl pkey -in "$D/$k" -pubout)
		[ "$a" != "$b" ] && pass || fail "$k is the $ca key"
	done
done

# init on an existing data directory refuses and changes nothing.
before=$(find "$D" -type f -exec sha256sum {} + | sort)
refuse "init twice" "already a tessera data directory" tessera init --data "$D"
after=$(find "$D" -type f -exec sha256sum {} + | sort)
[ "$before" = "$after" ] && pass || fail "second init changed the data dir"

# Bad requests are refused with a message and leave the store untouched.
n0=$(sqlite3 "$D/tessera.db" "select count(*) from certificates")
openssl req -new -newkey rsa:1024 -nodes -keyout "$T/weak.key" \
	-subj "/CN=device-weak" -out "$T/weak.csr" 2>/dev/null
refuse "RSA-1024" "CSR key is rsa:1024; profile device allows" \
	tessera issue --data "$D" --csr "$T/weak.csr" --profile device --out "$T/x.pem"
csr bad "/CN=bad name with spaces"
refuse "bad CN" "is not canonical" \
	tessera issue --data "$D" --csr "$T/bad.csr" --profile device --out "$T/x.pem"
refuse "unknown profile" 'no profile named "nope"' \
	tessera issue --data "$D" --csr "$T/dev1.csr" --profile nope --out "$T/x.pem"
head -c 1000000 /dev/urandom >"$T/junk.der"
refuse "1 MB of junk" "limit" \
	tessera issue --data "$D" --csr "$T/junk.der" --profile device --out "$T/x.pem"
n1=$(sqlite3 "$D/tessera.db" "select count(*) from certificates")
[ "$n0" = "$n1" ] && pass || fail "refusals changed the store ($n0 -> $n1)"
[ ! -e "$T/x.pem" ] && pass || fail "a refused issue wrote --out"
refusals=$(sqlite3 "$D/tessera.db" "select count(*) from audit where action='refuse'")
[ "$refusals" = 4 ] && pass || fail "$refusals refusals audited, want 4"

# HSM faults: one clear line, non-zero exit.
refuse "wrong PIN" "wrong PIN" env TESSERA_HSM_PIN=00000000 \
	"$TESSERA_BIN" issue --data "$D" --csr "$T/dev1.csr" --profile device --out "$T/x.pem"
lines=$(wc -l <"$T/last.out")
[ "$lines" = 1 ] && pass || fail "wrong PIN printed $lines lines"
echo 1234 >"$T/pin"
refuse "missing module" "cannot load" tessera init --data "$T/var2" \
	--hsm-module /nonexistent/libpkcs11.so --hsm-token x --hsm-pin-file "$T/pin"
[ ! -e "$T/var2" ] && pass || fail "failed init left $T/var2 behind"

refuse "https publish URL" "must be an http:// URL" tessera init --data "$T/var3" \
	--publish-url https://pki.example
[ ! -e "$T/var3" ] && pass || fail "a refused init created $T/var3"

# The audit chain verifies, and a changed entry is named.
check "audit verify" tessera audit verify --data "$D"
sqlite3 "$D/tessera.db" "update audit set detail='forged' where seq=3"
refuse "tampered audit" "audit entry 3" tessera audit verify --data "$D"

finish
