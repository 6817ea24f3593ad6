#!/usr/bin/env bash
# Two tessera instances on one SoftHSMv2 token, each with its own key
# prefix: both serve and issue, every key an instance makes carries its
# prefix, neither uses nor publishes the other's keys, and a second init
# with a prefix the token already holds is refused and changes nothing.
. "$(dirname "$0")/lib.sh"
MODULE=${TESSERA_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
tessera() { "$TESSERA_BIN" "$@"; }

# One token outside both data directories, as a production HSM would be.
mkdir -p "$T/tokens"
printf 'directories.tokendir = %s\nlog.level = ERROR\n' "$T/tokens" >"$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf
PIN=$(openssl rand -hex 16)
softhsm2-util --init-token --free --label shared --so-pin "$(openssl rand -hex 16)" \
	--pin "$PIN" >/dev/null
(umask 077 && printf '%s\n' "$PIN" >"$T/hsm.pin")
privkeys() {
	pkcs11-tool --module "$MODULE" --token-label shared --login --pin "$PIN" \
		--list-objects --type privkey 2>/dev/null |
		sed -n 's/^ *label: *//p' | sort
}

read -r A1 A2 B1 B2 < <(pick_ports 4)
init_as() { # init_as DIR PREFIX TLSPORT PUBPORT [more options]
	local d=$1 p=$2 t=$3 u=$4
	shift 4
	tessera init --data "$d" --hsm-module "$MODULE" --hsm-token shared \
		--hsm-pin-file "$T/hsm.pin" --key-prefix "$p" \
		--url "https://localhost:$t" --publish-url "http://127.0.0.1:$u" "$@"
}
check "init A (prefix site-a)" init_as "$T/a" site-a "$A1" "$A2" --name "Site A"
check "init B (prefix site-b)" init_as "$T/b" site-b "$B1" "$B2" --name "Site B"
privkeys >"$T/keys.txt"
[ "$(grep -c '^site-a-' "$T/keys.txt")" = 5 ] && [ "$(grep -c '^site-b-' "$T/keys.txt")" = 5 ] &&
	[ "$(wc -l <"$T/keys.txt")" = 10 ] && pass || fail "token keys after two inits: $(cat "$T/keys.txt")"
grep -q '"prefix": "site-a"' "$T/a/tessera.json" && pass || fail "A's tessera.json has no prefix"
# Every key URI of an instance names its own prefix only.
for x in a b; do
	n=$(grep -c "object=site-$x-" "$T/$x/tessera.json")
	other=$(grep -c "object=site-[^$x]-" "$T/$x/tessera.json")
	[ "$n" = 5 ] && [ "$other" = 0 ] && pass || fail "$x's tessera.json key URIs: $n own, $other other"
done

# A collision: a third data directory asking for prefix site-a is refused
# before any key is made; the token is unchanged.
refuse "init with a taken prefix" 'key prefix "site-a" is taken' \
	init_as "$T/c" site-a "$A1" "$A2"
[ ! -e "$T/c/tessera.json" ] && pass || fail "the refused init left a data directory"
cmp -s "$T/keys.txt" <(privkeys) && pass || fail "the refused init changed the token: $(privkeys)"
refuse "a bad prefix" "only letters, digits" init_as "$T/c" "site a" "$A1" "$A2"
refuse "a long prefix" "1 to 24 characters" init_as "$T/c" "$(printf 'x%.0s' $(seq 1 25))" "$A1" "$A2"
# Data directories made before the prefix existed: no keys.prefix means
# the labels they always had.
sed 's/"prefix": "site-b",//' "$T/b/tessera.json" >"$T/nopfx.json"
grep -q prefix "$T/nopfx.json" && fail "could not strip keys.prefix" || pass

start_server "$T/a" "$A1" "$A2" 1 || { fail "A did not start"; finish; exit 1; }
PID_A=$SERVER_PID
start_server "$T/b" "$B1" "$B2" 1 || { fail "B did not start"; finish; exit 1; }

# Each enrolls a device over EST, from its own issuing key.
enroll() { # enroll DIR TLSPORT DEVICE
	local secret
	secret=$(tessera secret --data "$1" --device "$3" --ttl 1h | tail -1) || return 1
	csr "$3" "/CN=$3" -outform DER || return 1
	base64 "$T/$3.csr" | curl --fail-with-body -sS --cacert "$1/ca/chain.pem" \
		-u "$3:$secret" -H "Content-Type: application/pkcs10" --data-binary @- \
		"https://localhost:$2/.well-known/est/simpleenroll" |
		base64 -d | openssl pkcs7 -inform DER -print_certs -out "$T/$3.pem"
}
check "A enrolls a device" enroll "$T/a" "$A1" dev-a
check "B enrolls a device" enroll "$T/b" "$B1" dev-b
check "A's device verifies against A's chain" openssl verify -CAfile "$T/a/ca/chain.pem" "$T/dev-a.pem"
check "B's device verifies against B's chain" openssl verify -CAfile "$T/b/ca/chain.pem" "$T/dev-b.pem"
refuse "A's device against B's chain" "error" openssl verify -CAfile "$T/b/ca/chain.pem" "$T/dev-a.pem"
ocsp() { # ocsp ISSUERDIR CERT PUBPORT
	openssl ocsp -issuer "$1/ca/issuing.pem" -cert "$2" -url "http://127.0.0.1:$3/ocsp" \
		-CAfile "$1/ca/chain.pem" 2>&1
}
ocsp "$T/a" "$T/dev-a.pem" "$A2" | grep -q ": good" && pass || fail "A's OCSP for its device: $(ocsp "$T/a" "$T/dev-a.pem" "$A2")"
ocsp "$T/b" "$T/dev-b.pem" "$B2" | grep -q ": good" && pass || fail "B's OCSP for its device"
# A does not answer for B's issuer.
ocsp "$T/b" "$T/dev-b.pem" "$A2" | grep -q ": good" && fail "A answered good for B's device" || pass

# A rotates its token-signing key: the new key carries A's prefix, B's
# JWKS does not change and never lists A's keys.
curl -sf "http://127.0.0.1:$B2/.well-known/jwks.json" -o "$T/jwks-b0.json" && pass || fail "B's JWKS"
check "A rotates its token key" tessera token rotate --data "$T/a"
new=$(comm -13 "$T/keys.txt" <(privkeys))
case "$new" in site-a-token-signing-*) pass ;; *) fail "rotated key label: '$new'" ;; esac
kid_a=$(tail -1 "$T/last.out" | awk "{print \$NF}")
n=50
until curl -sf "http://127.0.0.1:$A2/.well-known/jwks.json" | grep -qF "\"$kid_a\"" || [ $n = 0 ]; do
	sleep 0.2
	n=$((n - 1))
done
[ $n -gt 0 ] && pass || fail "A's JWKS does not list its new kid $kid_a"
curl -sf "http://127.0.0.1:$B2/.well-known/jwks.json" -o "$T/jwks-b1.json"
cmp -s "$T/jwks-b0.json" "$T/jwks-b1.json" && pass || fail "B's JWKS changed when A rotated"
grep -qF "\"$kid_a\"" "$T/jwks-b1.json" && fail "B publishes A's key" || pass

# An old-style tessera.json (no prefix) still loads and serves: B again.
stop_server
cp "$T/nopfx.json" "$T/b/tessera.json"
check "B without keys.prefix renews its TLS certificate" tessera renew --data "$T/b" tls
start_server "$T/b" "$B1" "$B2" 1 && pass || fail "B without keys.prefix does not serve"
stop_server "$PID_A"
finish
