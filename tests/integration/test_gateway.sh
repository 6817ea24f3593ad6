#!/usr/bin/env bash
# nginx as the gateway (relying party) for tessera's device certificates:
# `ssl_verify_client on` trusting tessera's chain, once with `ssl_crl` on the
# CRL file tessera writes (copied, then `nginx -s reload` after the
# revocation) and once with `ssl_ocsp leaf` asking tessera's responder (no
# reload, no cache). In each mode a device is admitted before its
# revocation and refused after; another device stays admitted.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || NGINX=$(command -v nginx || true)
if [ -z "$NGINX" ]; then
	fail "nginx not found (set NGINX)"
	finish
	exit
fi

ports=$(pick_ports 4) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 G1 G2 <<<"$ports"
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 10 --cacert "$D/ca/chain.pem")

check "init" tessera init --data "$D" --name "Gateway Test" --publish-url "$PUB"
if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass

serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# enroll NAME: key, CSR, one-time secret and simpleenroll for device NAME;
# $T/NAME.pem and $T/NAME.key.
enroll() {
	local s code
	csr "$1" "/CN=$1" -addext "subjectAltName=URI:urn:dev:$1"
	s=$(tessera secret --data "$D" --device "$1" 2>>"$T/secret.err" | tail -1)
	code=$(openssl req -in "$T/$1.csr" -outform DER 2>/dev/null | base64 -w0 |
		"${CURL[@]}" -o "$T/$1.p7" -w '%{http_code}' -u "$1:$s" \
			-H 'Content-Type: application/pkcs10' --data-binary @- "$EST/simpleenroll")
	[ "$code" = 200 ] && base64 -d "$T/$1.p7" |
		openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -out "$T/$1.pem" 2>/dev/null && pass ||
		fail "enroll $1: HTTP $code"
}
# revoke NAME: the admin revokes NAME's certificate (keyCompromise).
revoke() {
	local code
	code=$("${CURL[@]}" -o "$T/revoke-$1.out" -w '%{http_code}' \
		--cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
		-H 'Content-Type: application/json' -d '{"reason":"keyCompromise"}' \
		"$API/certificates/$(serial_of "$T/$1.pem")/revoke")
	[ "$code" = 200 ] && pass || {
		fail "revoke $1: HTTP $code"
		head -c 300 "$T/revoke-$1.out" | sed 's/^/    /' >&2
	}
}
# gw PORT NAME: a request to the gateway with NAME's certificate (no
# certificate when NAME is -); prints the status code, body in $T/gw.out.
gw() {
	local cert=()
	[ "$2" = - ] || cert=(--cert "$T/$2.pem" --key "$T/$2.key")
	"${CURL[@]}" -o "$T/gw.out" -w '%{http_code}' "${cert[@]}" \
		"https://localhost:$1/" 2>>"$T/gw.err"
}
# admitted PORT NAME WHAT / refused PORT NAME WHAT
admitted() {
	local code
	code=$(gw "$1" "$2")
	[ "$code" = 200 ] && grep -qx admitted "$T/gw.out" && pass ||
		fail "$3: HTTP $code, want 200 admitted"
}
refused() {
	local code
	code=$(gw "$1" "$2")
	[ "$code" = 400 ] && pass || fail "$3: HTTP $code, want 400"
}

for d in gw-crl-1 gw-crl-2 gw-ocsp-1 gw-ocsp-2; do enroll "$d"; done

# --- nginx ----------------------------------------------------------------
N=$T/nginx
mkdir -p "$N"
ok=0
for _ in $(seq 1 50); do
	[ -s "$D/crl/crl-chain.pem" ] && { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && pass || fail "$D/crl/crl-chain.pem was not written"
nginx_gateway_conf "$N" "$D" "$G1" "$G2" "$PUB/ocsp"
NGX=("$NGINX" -p "$N" -c "$N/nginx.conf")
if ! "${NGX[@]}" -t >"$N/t.out" 2>&1; then
	fail "nginx -t refuses the configuration"
	sed 's/^/    /' "$N/t.out" >&2
	finish
	exit
fi
"${NGX[@]}" >"$N/stdout" 2>"$N/stderr" &
NGINX_PID=$!
cleanup_hooks+=("kill -TERM $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null")
ok=0
for _ in $(seq 1 100); do
	kill -0 "$NGINX_PID" 2>/dev/null || break
	[ -n "$(ss -ltnH "sport = :$G2" 2>/dev/null)" ] &&
		[ -n "$(ss -ltnH "sport = :$G1" 2>/dev/null)" ] && { ok=1; break; }
	sleep 0.1
done
if [ "$ok" != 1 ]; then
	fail "nginx did not start"
	sed 's/^/    /' "$N/stderr" "$N/error.log" >&2
	finish
	exit
fi
pass

# --- CRL mode -----------------------------------------------------------------
refused "$G1" - "CRL gateway, no client certificate"
admitted "$G1" gw-crl-1 "CRL gateway, gw-crl-1 before its revocation"
admitted "$G1" gw-crl-2 "CRL gateway, gw-crl-2"
before=$(openssl crl -in "$D/crl/crl-chain.pem" -noout -crlnumber 2>/dev/null)
S=$(serial_of "$T/gw-crl-1.pem")
revoke gw-crl-1
# Wait (10 s at most) for the CRL file to change and list the serial.
ok=0
for _ in $(seq 1 100); do
	now=$(openssl crl -in "$D/crl/crl-chain.pem" -noout -crlnumber 2>/dev/null)
	[ -n "$now" ] && [ "$now" != "$before" ] &&
		openssl crl -in "$D/crl/crl-chain.pem" -noout -text 2>/dev/null |
		grep -qi "Serial Number: *$S\$" && { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && pass ||
	fail "crl-chain.pem did not change to list $S within 10 s ($before -> ${now:-})"
# Until the reload, nginx still admits it: its CRL is the old copy.
admitted "$G1" gw-crl-1 "CRL gateway, gw-crl-1 revoked but before the reload"
cp "$D/crl/crl-chain.pem" "$N/crl.pem.new" && mv "$N/crl.pem.new" "$N/crl.pem"
check "nginx -s reload" "${NGX[@]}" -s reload
# The reload is asynchronous: new workers take over within a moment.
code=
for _ in $(seq 1 100); do
	code=$(gw "$G1" gw-crl-1)
	[ "$code" = 400 ] && break
	sleep 0.1
done
[ "$code" = 400 ] && pass ||
	fail "CRL gateway, gw-crl-1 after the revocation and reload: HTTP $code, want 400"
grep -q 'certificate revoked' "$N/error.log" && pass ||
	fail "nginx's error.log does not say 'certificate revoked'"
admitted "$G1" gw-crl-2 "CRL gateway, gw-crl-2 after gw-crl-1's revocation"
kill -0 "$NGINX_PID" 2>/dev/null && pass || fail "nginx died during the reload"

# --- OCSP mode ----------------------------------------------------------------
refused "$G2" - "OCSP gateway, no client certificate"
admitted "$G2" gw-ocsp-1 "OCSP gateway, gw-ocsp-1 before its revocation"
admitted "$G2" gw-ocsp-2 "OCSP gateway, gw-ocsp-2"
: >"$T/gw.err"
lines=$(wc -l <"$N/error.log")
revoke gw-ocsp-1
# No reload, no sleep: the responder says revoked once the API said 200.
refused "$G2" gw-ocsp-1 "OCSP gateway, gw-ocsp-1 right after its revocation"
tail -n +"$((lines + 1))" "$N/error.log" | grep -qi 'revoked' && pass || {
	fail "nginx's error.log does not say the certificate is revoked"
	tail -n +"$((lines + 1))" "$N/error.log" | sed 's/^/    /' >&2
}
admitted "$G2" gw-ocsp-2 "OCSP gateway, gw-ocsp-2 after gw-ocsp-1's revocation"
# The OCSP gateway never consulted a CRL: gw-crl-1 is refused there too,
# through OCSP alone.
refused "$G2" gw-crl-1 "OCSP gateway, gw-crl-1 (revoked earlier)"

if grep -E '\[(emerg|alert|crit)\]' "$N/error.log" >&2; then
	fail "nginx logged emerg/alert/crit errors"
else pass; fi
stop_server
finish
