#!/usr/bin/env bash
# The offline-root ceremony. tessera init --offline-root makes the issuing
# key in the token and a CSR, and no root key; an offline root (openssl
# req/x509/ca in a directory of its own) signs it; tessera ca import takes
# the certificate and the root CRL after checking them, and refuses each
# wrong one (wrong key, not a CA, wrong profile, wrong chain, a root that
# is not self-signed, expired; a CRL that is stale, expired or not the
# root's) without changing anything. Then tessera serves: devices enroll
# under the imported issuing CA, the root CRL is served as imported, a
# newer one reaches the running server, and the root key is never online.
. "$(dirname "$0")/lib.sh"
D=$T/var
R=$T/offline
MODULE=${TESSERA_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
tessera() { "$TESSERA_BIN" "$@"; }
read -r P1 P2 < <(pick_ports 2)

check "init --offline-root" tessera init --data "$D" --offline-root --name "Acme" \
	--url "https://localhost:$P1" --publish-url "http://127.0.0.1:$P2"
grep -q "ca/issuing.csr" "$T/last.out" && pass || fail "init did not say where the CSR is"
check "the CSR is signed by its key" openssl req -in "$D/ca/issuing.csr" -verify -noout
openssl req -in "$D/ca/issuing.csr" -noout -subject | grep -q "CN = Acme Issuing CA" &&
	pass || fail "CSR subject: $(openssl req -in "$D/ca/issuing.csr" -noout -subject)"
[ ! -e "$D/ca/root.pem" ] && [ ! -e "$D/ca/issuing.pem" ] && pass || fail "init wrote CA certificates"
grep -q '"root"' "$D/tessera.json" && fail "tessera.json names a root key" || pass
tokenkeys() {
	SOFTHSM2_CONF=$D/hsm/softhsm2.conf pkcs11-tool --module "$MODULE" --token-label tessera \
		--login --pin "$(cat "$D/hsm/user.pin")" --list-objects 2>/dev/null |
		sed -n 's/^ *label: *//p' | sort -u
}
tokenkeys >"$T/keys.txt"
grep -q root "$T/keys.txt" && fail "a root key is in the token: $(cat "$T/keys.txt")" || pass
grep -qx tessera-issuing-ca "$T/keys.txt" && pass || fail "no issuing key in the token"
refuse "serve before the import" "waits for its issuing CA certificate" \
	tessera serve --data "$D" --listen "127.0.0.1:$P1" --publish "127.0.0.1:$P2" --workers 1
refuse "a CRL before the certificate" "import the issuing CA" \
	tessera ca import --data "$D" --crl /dev/null

# The offline root: its key never leaves this directory.
mkdir -p "$R/new"
touch "$R/index.txt"
echo 1000 >"$R/serial"
echo 01 >"$R/crlnumber"
cat >"$R/ca.cnf" <<EOF
[ca]
default_ca = root
[root]
dir = $R
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/root.pem
private_key = \$dir/root.key
default_md = sha384
default_days = 1825
default_crl_days = 7
policy = anything
unique_subject = no
copy_extensions = none
[anything]
organizationName = optional
commonName = supplied
[issuing]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[not_ca]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
[no_pathlen]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[no_crlsign]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign
EOF
root_new() { # root_new DIR NAME: a self-signed P-384 root
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes \
		-keyout "$1/root.key" -out "$1/root.pem" -days 3650 -subj "/O=Acme/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
check "the offline root" root_new "$R" "Acme Offline Root"
sign() { # sign CSR OUT EXTENSIONS [openssl ca options]
	local csr=$1 out=$2 ext=$3
	shift 3
	openssl ca -config "$R/ca.cnf" -batch -notext -extensions "$ext" \
		-in "$csr" -out "$out" "$@" 2>"$T/ca.err"
}
check "the root signs the issuing CSR" sign "$D/ca/issuing.csr" "$R/issuing.pem" issuing
check "the root's first CRL" openssl ca -config "$R/ca.cnf" -gencrl -out "$R/root-1.crl"

# Every refusal changes nothing: no CA file, no row.
unchanged() {
	[ ! -e "$D/ca/issuing.pem" ] && [ ! -e "$D/ca/root.pem" ] &&
		[ "$(sqlite3 "$D/tessera.db" 'select count(*) from certificates')" = 0 ]
}
csr other "/CN=Acme Issuing CA"
check "a CSR of another key, signed" sign "$T/other.csr" "$R/wrong-key.pem" issuing
refuse "the wrong key" "certifies another key than the issuing key in the token" \
	tessera ca import --data "$D" --cert "$R/wrong-key.pem" --chain "$R/root.pem"
check "a certificate that is not a CA" sign "$D/ca/issuing.csr" "$R/not-ca.pem" not_ca
refuse "not a CA" "is not a CA: basicConstraints CA:TRUE is missing" \
	tessera ca import --data "$D" --cert "$R/not-ca.pem" --chain "$R/root.pem"
check "a CA without pathlen 0" sign "$D/ca/issuing.csr" "$R/no-pathlen.pem" no_pathlen
refuse "no pathlen" "needs pathLenConstraint 0" \
	tessera ca import --data "$D" --cert "$R/no-pathlen.pem" --chain "$R/root.pem"
check "a CA without cRLSign" sign "$D/ca/issuing.csr" "$R/no-crlsign.pem" no_crlsign
refuse "no cRLSign" "keyCertSign and cRLSign" \
	tessera ca import --data "$D" --cert "$R/no-crlsign.pem" --chain "$R/root.pem"
check "an expired certificate" sign "$D/ca/issuing.csr" "$R/expired.pem" issuing \
	-startdate 20200101000000Z -enddate 20210101000000Z
refuse "expired" "the issuing certificate expired at 2021-01-01" \
	tessera ca import --data "$D" --cert "$R/expired.pem" --chain "$R/root.pem"
mkdir -p "$T/other-root"
check "another root" root_new "$T/other-root" "Someone Else's Root"
refuse "the wrong chain" "is issued by CN=Acme Offline Root,O=Acme, not by the root CN=Someone" \
	tessera ca import --data "$D" --cert "$R/issuing.pem" --chain "$T/other-root/root.pem"
# Same name, another key: only the signature tells them apart.
mkdir -p "$T/twin"
check "a root with the same name" root_new "$T/twin" "Acme Offline Root"
refuse "a root of the same name, another key" "does not chain to the root" \
	tessera ca import --data "$D" --cert "$R/issuing.pem" --chain "$T/twin/root.pem"
refuse "a chain that is not self-signed" "is not self-signed" \
	tessera ca import --data "$D" --cert "$R/issuing.pem" --chain "$R/issuing.pem"
cat "$R/issuing.pem" "$R/root.pem" >"$T/two.pem"
refuse "two certificates for one" "give exactly one" \
	tessera ca import --data "$D" --cert "$T/two.pem" --chain "$R/root.pem"
refuse "not a certificate" "not a PEM certificate" \
	tessera ca import --data "$D" --cert "$D/ca/issuing.csr" --chain "$R/root.pem"
refuse "--cert without --chain" "usage" tessera ca import --data "$D" --cert "$R/issuing.pem"
unchanged && pass || fail "a refused import changed the data directory"

# The real one, with the root CRL.
check "ca import" tessera ca import --data "$D" --cert "$R/issuing.pem" \
	--chain "$R/root.pem" --crl "$R/root-1.crl"
cmp -s "$D/ca/issuing.pem" "$R/issuing.pem" && cmp -s "$D/ca/root.pem" "$R/root.pem" &&
	pass || fail "the imported certificates are not the ones given"
check "the chain verifies" openssl verify -CAfile "$D/ca/root.pem" "$D/ca/issuing.pem"
check "the TLS certificate verifies" openssl verify -CAfile "$D/ca/root.pem" \
	-untrusted "$D/ca/issuing.pem" -purpose sslserver "$D/tls/server.pem"
check "the admin certificate verifies" openssl verify -CAfile "$D/ca/chain.pem" \
	-purpose sslclient "$D/admin/admin.pem"
check "the OCSP responder verifies" openssl verify -CAfile "$D/ca/chain.pem" "$D/ca/ocsp.pem"
[ "$(sqlite3 "$D/tessera.db" "select count(*) from certificates where profile in ('root-ca','issuing-ca')")" = 2 ] &&
	pass || fail "the CA rows are not in the store"
sqlite3 "$D/tessera.db" "select action from audit" | grep -qx import && pass ||
	fail "the import is not audited"
refuse "a second import" "has its issuing CA certificate already" \
	tessera ca import --data "$D" --cert "$R/issuing.pem" --chain "$R/root.pem"
refuse "the same CRL again" "the CRL is stale: its crlNumber 1 is not above 1" \
	tessera ca import --data "$D" --crl "$R/root-1.crl"
# A CRL of another root (same name), and one that expired.
cp "$R/ca.cnf" "$T/twin.cnf"
sed -i "s|^dir = .*|dir = $T/twin|" "$T/twin.cnf"
touch "$T/twin/index.txt"
echo 05 >"$T/twin/crlnumber"
check "the twin's CRL" openssl ca -config "$T/twin.cnf" -gencrl -out "$T/twin.crl"
refuse "a CRL signed by another key" "signature does not verify with the root's key" \
	tessera ca import --data "$D" --crl "$T/twin.crl"
check "an expired CRL" openssl ca -config "$R/ca.cnf" -gencrl -out "$R/old.crl" \
	-crl_lastupdate 20200101000000Z -crl_nextupdate 20200108000000Z
refuse "an expired CRL" "the CRL expired at 2020-01-08" \
	tessera ca import --data "$D" --crl "$R/old.crl"
sed "s|^dir = .*|dir = $T/other-root|" "$R/ca.cnf" >"$T/other.cnf"
touch "$T/other-root/index.txt"
echo 09 >"$T/other-root/crlnumber"
check "another root's CRL" openssl ca -config "$T/other.cnf" -gencrl -out "$T/other.crl"
refuse "a CRL of another root" "the CRL is issued by CN=Someone Else's Root,O=Acme, not by the root" \
	tessera ca import --data "$D" --crl "$T/other.crl"

start_server "$D" "$P1" "$P2" 1 || { fail "serve did not start after the import"; finish; exit 1; }
curl -sf "http://127.0.0.1:$P2/crl/root.crl" -o "$T/served.crl" && pass || fail "no /crl/root.crl"
openssl crl -in "$R/root-1.crl" -outform DER -out "$T/root-1.der"
cmp -s "$T/served.crl" "$T/root-1.der" && pass || fail "/crl/root.crl is not the imported CRL"
cmp -s "$D/crl/root.crl" "$T/root-1.der" && pass || fail "crl/root.crl is not the imported CRL"

# A device enrolls under the imported issuing CA; the whole chain, CRLs
# included, verifies as nginx would check it.
SECRET=$(tessera secret --data "$D" --device dev-1 --ttl 1h | tail -1)
csr dev1 "/CN=dev-1" -outform DER
base64 "$T/dev1.csr" | curl --fail-with-body -sS --cacert "$D/ca/chain.pem" \
	-u "dev-1:$SECRET" -H "Content-Type: application/pkcs10" --data-binary @- \
	"https://localhost:$P1/.well-known/est/simpleenroll" | base64 -d |
	openssl pkcs7 -inform DER -print_certs -out "$T/dev1.pem"
check "the device verifies against the chain" openssl verify -CAfile "$D/ca/chain.pem" "$T/dev1.pem"
n=100
until [ -s "$D/crl/crl-chain.pem" ] && [ "$(grep -c 'BEGIN X509 CRL' "$D/crl/crl-chain.pem")" = 2 ] ||
	[ $n = 0 ]; do sleep 0.1; n=$((n - 1)); done
check "crl_check_all with the imported root CRL" openssl verify -crl_check_all \
	-CAfile "$D/ca/chain.pem" -CRLfile "$D/crl/crl-chain.pem" "$T/dev1.pem"
# OCSP for the issuing CA: the offline root answers none here.
openssl ocsp -issuer "$D/ca/root.pem" -cert "$D/ca/issuing.pem" -url "http://127.0.0.1:$P2/ocsp" \
	-CAfile "$D/ca/chain.pem" >"$T/ocsp-ca.out" 2>&1
grep -q "unauthorized" "$T/ocsp-ca.out" && pass || fail "OCSP for the issuing CA: $(cat "$T/ocsp-ca.out")"
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/dev1.pem" -url "http://127.0.0.1:$P2/ocsp" \
	-CAfile "$D/ca/chain.pem" 2>&1 | grep -q ": good" && pass || fail "OCSP for the device"

# A newer root CRL (the root revoked a CA it had issued) reaches the
# running server: served at once, and in crl-chain.pem after the reload.
check "the root revokes the wrong-key certificate" \
	openssl ca -config "$R/ca.cnf" -revoke "$R/wrong-key.pem" -crl_reason keyCompromise
check "the root's second CRL" openssl ca -config "$R/ca.cnf" -gencrl -out "$R/root-2.crl"
check "ca import --crl while serving" tessera ca import --data "$D" --crl "$R/root-2.crl"
grep -q "sent SIGHUP to tessera serve (pid $SERVER_PID)" "$T/last.out" && pass ||
	fail "ca import did not reload serve: $(cat "$T/last.out")"
curl -sf "http://127.0.0.1:$P2/crl/root.crl" | openssl crl -inform DER -noout -crlnumber |
	grep -q "crlNumber=0x03" && pass || fail "/crl/root.crl is not number 3 (2 went to the expired one)"
n=100
until grep -qF "reload 1 complete" "$T/serve.err" || [ $n = 0 ]; do sleep 0.1; n=$((n - 1)); done
[ $n -gt 0 ] && pass || fail "serve did not complete its reload"
n=100
revoked_seen() {
	openssl verify -crl_check -CAfile "$D/ca/root.pem" -CRLfile "$D/crl/crl-chain.pem" \
		"$R/wrong-key.pem" 2>&1 | grep -q "certificate revoked"
}
until revoked_seen || [ $n = 0 ]; do
	sleep 0.1
	n=$((n - 1))
done
[ $n -gt 0 ] && pass || fail "crl-chain.pem does not carry the new root CRL"

# The root revokes the issuing CA: its CRL, imported, stops issuance at
# once (the running server reads the revocation from the store).
check "the root revokes the issuing CA" \
	openssl ca -config "$R/ca.cnf" -revoke "$R/issuing.pem" -crl_reason cACompromise
check "the root's CRL that lists it" openssl ca -config "$R/ca.cnf" -gencrl -out "$R/root-3.crl"
check "ca import of that CRL" tessera ca import --data "$D" --crl "$R/root-3.crl"
serial=$(openssl x509 -in "$D/ca/issuing.pem" -noout -serial | cut -d= -f2)
[ "$(sqlite3 "$D/tessera.db" "select status || ' ' || reason from certificates where profile = 'issuing-ca'")" = \
	"revoked 2" ] && pass || fail "the issuing CA's row is not revoked (cACompromise)"
sqlite3 "$D/tessera.db" "select detail from audit where action = 'revoke'" |
	grep -q "by the offline root's CRL number 4" && pass || fail "the revocation by the root CRL is not audited"
SECRET=$(tessera secret --data "$D" --device dev-2 --ttl 1h | tail -1)
csr dev2 "/CN=dev-2" -outform DER
code=$(base64 "$T/dev2.csr" | curl -sS -o "$T/dev2.out" -w '%{http_code}' --cacert "$D/ca/chain.pem" \
	-u "dev-2:$SECRET" -H "Content-Type: application/pkcs10" --data-binary @- \
	"https://localhost:$P1/.well-known/est/simpleenroll")
[ "$code" = 503 ] && grep -q "was revoked" "$T/dev2.out" && pass ||
	fail "enrollment under the revoked issuing CA answered $code: $(cat "$T/dev2.out")"
stop_server

# Never online: nothing in the token is the root's key.
tokenkeys | grep -q root && fail "a root key appeared in the token" || pass
root_pub=$(openssl x509 -in "$R/root.pem" -noout -pubkey)
for l in $(tokenkeys); do
	SOFTHSM2_CONF=$D/hsm/softhsm2.conf pkcs11-tool --module "$MODULE" --token-label tessera \
		--read-object --type pubkey --label "$l" -o "$T/pub.der" >/dev/null 2>&1 || continue
	[ "$(openssl pkey -pubin -inform DER -in "$T/pub.der" 2>/dev/null)" = "$root_pub" ] &&
		fail "the token holds the root's key ($l)"
done
pass
finish
