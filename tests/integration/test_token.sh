#!/usr/bin/env bash
# Device tokens end to end: a device enrolled over EST gets a token from
# POST /token over mutual TLS; an independent implementation (Debian's
# python3-jwcrypto) verifies it against the JWKS from both listeners (alg
# ES256, kid = RFC 7638 thumbprint, exp - iat as the policy says, cnf
# x5t#S256 = the certificate's thumbprint computed by openssl), and so does
# `tessera token verify`. Refusals: no certificate, a Basic secret, admin
# and station certificates, an unknown audience, a revoked certificate,
# bad grant types, methods and content types. Rotation: through the API
# and the CLI while serving; old tokens verify until they expire, then the
# old key leaves the JWKS. Every mint and refusal is audited, no token is.
. "$(dirname "$0")/lib.sh"
D=$T/var
PY=/usr/bin/python3 # Debian's, where python3-jwcrypto lives
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
URL=https://localhost:$P1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")
AUD=urn:tessera:gateway

check "init" tessera init --data "$D" --url "$URL" --publish-url "$PUB"
# A second audience the devices may ask for.
$PY -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["tokens"]["audiences"].append("urn:tessera:other")
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json"

if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	finish
	exit
fi
pass

# enroll NAME ID: $T/NAME.pem and $T/NAME.key for device ID over EST.
enroll() {
	local s
	csr "$1" "/CN=$2" -addext "subjectAltName=URI:urn:dev:$2"
	s=$(tessera secret --data "$D" --device "$2" 2>/dev/null | tail -1)
	openssl req -in "$T/$1.csr" -outform DER 2>/dev/null | base64 -w0 |
		"${CURL[@]}" --fail-with-body -u "$2:$s" \
			-H 'Content-Type: application/pkcs10' --data-binary @- \
			"$URL/.well-known/est/simpleenroll" | base64 -d |
		openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -out "$T/$1.pem" 2>/dev/null
}
# token NAME [curl args...]: POST /token; body in $T/NAME.json, headers
# in $T/NAME.hdr; prints the HTTP code.
token() {
	local name=$1
	shift
	"${CURL[@]}" -o "$T/$name.json" -D "$T/$name.hdr" -w '%{http_code}' \
		"$@" "$URL/token"
}
# as NAME: the client certificate and key of NAME.
as() { echo --cert "$T/$1.pem" --key "$T/$1.key"; }
field() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
thumb() {
	openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -binary |
		basenc --base64url | tr -d '=\n'
}

# verify JWT JWKS CERT AUD TTL: jwcrypto checks the signature with the
# JWKS; the claims are then judged here, as a gateway must.
verify() {
	$PY - "$@" <<'EOF'
import json, sys, time
from jwcrypto import jwk, jws, jwt
tok, jwks_file, x5t, aud, ttl, iss = sys.argv[1:7]
ks = jwk.JWKSet.from_json(open(jwks_file).read())
t = jwt.JWT(jwt=tok, key=ks, algs=["ES256"], check_claims=False)
h = t.token.jose_header
c = json.loads(t.claims)
k = ks.get_key(h["kid"])
now = int(time.time())
problems = []
if h["alg"] != "ES256": problems.append("alg " + h["alg"])
if k.thumbprint() != h["kid"]: problems.append("kid is not the thumbprint")
if c["exp"] - c["iat"] != int(ttl): problems.append("exp - iat %d" % (c["exp"] - c["iat"]))
if c["exp"] - c["iat"] > 3600: problems.append("lives over an hour")
if not (c["iat"] - 5 <= now <= c["exp"]): problems.append("not current")
if c["nbf"] > now + 5: problems.append("nbf in the future")
if c["aud"] != aud: problems.append("aud " + str(c["aud"]))
if c["iss"] != iss: problems.append("iss " + c["iss"])
if c["cnf"]["x5t#S256"] != x5t: problems.append("cnf " + c["cnf"]["x5t#S256"])
if c["sub"] != "device-0001" or c["client_id"] != "device-0001": problems.append("sub")
if c.get("scope") != "gateway:connect": problems.append("profile claim")
if len(c["jti"]) < 16: problems.append("jti")
if problems: sys.exit("; ".join(problems))
EOF
}

enroll dev device-0001
check "device enrolled" test -s "$T/dev.pem"
code=$(token tok1 $(as dev) -d grant_type=client_credentials)
check "POST /token answers 200 ($code)" test "$code" = 200
check "token_type Bearer" test "$(field "$T/tok1.json" token_type)" = Bearer
check "expires_in is the policy's 300" \
	test "$(field "$T/tok1.json" expires_in)" = 300
check "no-store" grep -qi '^cache-control: no-store' "$T/tok1.hdr"
JWT=$(field "$T/tok1.json" access_token)
X5T=$(thumb "$T/dev.pem")
"${CURL[@]}" -D "$T/jwks.hdr" -o "$T/jwks.json" "$URL/.well-known/jwks.json"
curl -sS -o "$T/jwks-pub.json" "$PUB/.well-known/jwks.json"
check "JWKS media type" grep -qi '^content-type: application/jwk-set+json' \
	"$T/jwks.hdr"
check "the same JWKS on both listeners" cmp "$T/jwks.json" "$T/jwks-pub.json"
check "jwcrypto verifies the token (TLS JWKS)" \
	verify "$JWT" "$T/jwks.json" "$X5T" "$AUD" 300 "$URL"
check "jwcrypto verifies the token (plain JWKS)" \
	verify "$JWT" "$T/jwks-pub.json" "$X5T" "$AUD" 300 "$URL"
check "tessera token verify, bound to the certificate" \
	tessera token verify --jwks "$T/jwks.json" --issuer "$URL" \
	--audience "$AUD" --cert "$T/dev.pem" "$JWT"
enroll dev2 device-0002
refuse "a token shown with another device's certificate" \
	"bound to another certificate" tessera token verify \
	--jwks "$T/jwks.json" --issuer "$URL" --audience "$AUD" \
	--cert "$T/dev2.pem" "$JWT"
refuse "a token for another audience" "audience" tessera token verify \
	--jwks "$T/jwks.json" --issuer "$URL" --audience urn:tessera:other "$JWT"
# A changed payload (sub) breaks the signature for jwcrypto too.
FORGED=$($PY -c '
import base64, json, sys
h, p, s = sys.argv[1].split(".")
c = json.loads(base64.urlsafe_b64decode(p + "=="))
c["sub"] = "device-9999"
p = base64.urlsafe_b64encode(json.dumps(c).encode()).decode().rstrip("=")
print(".".join([h, p, s]))' "$JWT")
refuse "jwcrypto refuses a forged payload" "" \
	verify "$FORGED" "$T/jwks.json" "$X5T" "$AUD" 300 "$URL"

meta=$(curl -sS "$PUB/.well-known/openid-configuration")
check "metadata names the issuer" test "$(echo "$meta" |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')" = "$URL"
check "metadata names the JWKS and token endpoint" \
	test "$(echo "$meta" | $PY -c 'import json,sys; j=json.load(sys.stdin); print(j["jwks_uri"], j["token_endpoint"])')" = \
	"$URL/.well-known/jwks.json $URL/token"

code=$(token tok2 $(as dev) -d grant_type=client_credentials \
	--data-urlencode audience=urn:tessera:other)
check "an allowed audience ($code)" test "$code" = 200
check "aud is the one asked for" verify "$(field "$T/tok2.json" access_token)" \
	"$T/jwks.json" "$X5T" urn:tessera:other 300 "$URL"

# --- refusals: each a 4xx with an RFC 6749 error and a description ---------
# expect NAME CODE ERROR [curl args...]
expect() {
	local name=$1 want=$2 err=$3 code
	shift 3
	code=$(token "$name" "$@")
	if [ "$code" != "$want" ]; then
		fail "$name: HTTP $code, want $want: $(cat "$T/$name.json")"
	elif [ "$(field "$T/$name.json" error)" != "$err" ] ||
		[ -z "$(field "$T/$name.json" error_description)" ]; then
		fail "$name: $(cat "$T/$name.json"), want error $err"
	else pass; fi
}
csr station /CN=station-01
tessera issue --data "$D" --csr "$T/station.csr" --profile station \
	--out "$T/station.pem" >/dev/null 2>&1
cp "$D/admin/admin.pem" "$T/admin.pem"
cp "$D/admin/admin.key" "$T/admin.key"
# A certificate from another CA with the same subject.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/foreign.key" -subj /CN=device-0001 -days 1 \
	-out "$T/foreign.pem" 2>/dev/null
audit0=$(db 'SELECT count(*) FROM audit')
certs0=$(db 'SELECT count(*) FROM certificates')
G=(-d grant_type=client_credentials)
expect no_cert 401 invalid_client "${G[@]}"
S=$(tessera secret --data "$D" --device device-0003 2>/dev/null | tail -1)
expect basic_secret 401 invalid_client -u "device-0003:$S" "${G[@]}"
expect admin 400 unauthorized_client $(as admin) "${G[@]}"
expect station 400 unauthorized_client $(as station) "${G[@]}"
expect audience 400 invalid_target $(as dev) "${G[@]}" -d audience=urn:evil
expect no_grant 400 invalid_request $(as dev) -d audience=$AUD
expect password_grant 400 unsupported_grant_type $(as dev) \
	-d grant_type=password -d username=a -d password=b
expect twice 400 invalid_request $(as dev) "${G[@]}" "${G[@]}"
expect json_body 400 invalid_request $(as dev) \
	-H 'Content-Type: application/json' -d '{"grant_type":"client_credentials"}'
expect client_id 401 invalid_client $(as dev) "${G[@]}" -d client_id=device-0002
expect get 405 invalid_request $(as dev) -G
check "405 names the method" grep -qi '^allow: POST' "$T/get.hdr"
code=$(curl -sS -o "$T/plain.json" -w '%{http_code}' "${G[@]}" "$PUB/token")
check "POST /token on the plain listener: 400 ($code)" test "$code" = 400
code=$(token foreign --cert "$T/foreign.pem" --key "$T/foreign.key" "${G[@]}" 2>/dev/null)
check "a foreign CA's certificate gets no token ($code)" \
	test "$code" = 401 -o "$code" = 000
check "refusals stored no certificate" \
	test "$(db 'SELECT count(*) FROM certificates')" = "$certs0"
check "refusals are audited" test "$(db "SELECT count(*) FROM audit WHERE
	seq > $audit0 AND action = 'refuse'")" -ge 6

# Blocked with a valid certificate: only a race makes one (revoking a
# device revokes its certificates in the same transaction), so the row is
# set by hand here; the mint's own transaction must see it.
db "UPDATE devices SET status = 'blocked' WHERE id = 'device-0001'"
expect blocked 400 unauthorized_client $(as dev) "${G[@]}"
check "the refusal says the device is blocked" grep -q "is blocked" "$T/blocked.json"
db "UPDATE devices SET status = 'active' WHERE id = 'device-0001'"

# Revoked: the certificate is refused at once.
SERIAL=$(openssl x509 -in "$T/dev2.pem" -noout -serial | cut -d= -f2)
check "revoke device-0002's certificate" "${CURL[@]}" --fail-with-body \
	$(as admin) -H 'Content-Type: application/json' -d '{}' \
	"$URL/api/v1/certificates/$SERIAL/revoke"
expect revoked 401 invalid_client $(as dev2) "${G[@]}"

# Audited: every mint, by jti; the token itself never.
check "each mint is audited with its jti" test "$(db "SELECT count(*) FROM
	audit WHERE action = 'token' AND object = 'device-0001'
	AND detail LIKE 'jti=%'")" = 2
check "no token text in the audit" test "$(db "SELECT count(*) FROM audit
	WHERE detail GLOB '*eyJ*' OR object GLOB '*eyJ*'")" = 0
check "no token text in the logs" bash -c "! grep -q 'eyJhbGci' '$T/serve.out' '$T/serve.err'"

# --- rotation ---------------------------------------------------------------
# Tokens live 10 s here, and gateways allow 1 s of skew: a retired key
# leaves the JWKS 11 s after its retirement.
stop_server
$PY -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["tokens"]["ttl_seconds"] = 10
j["tokens"]["leeway_seconds"] = 1
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json"
if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come back"
	finish
	exit
fi
kid_of() { $PY -c '
import base64, json, sys
h = sys.argv[1].split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=="))["kid"])' "$1"; }
kids() { curl -sS "$PUB/.well-known/jwks.json" |
	$PY -c 'import json,sys; print(" ".join(k["kid"] for k in json.load(sys.stdin)["keys"]))'; }

token old $(as dev) "${G[@]}" >/dev/null
OLD=$(field "$T/old.json" access_token)
K1=$(kid_of "$OLD")
check "one key before rotation" test "$(kids)" = "$K1"
check "rotate through the API" "${CURL[@]}" --fail-with-body -o "$T/rot.json" \
	$(as admin) -H 'Content-Type: application/json' -d '{}' \
	"$URL/api/v1/token-keys"
K2=$(field "$T/rot.json" kid)
check "the JWKS holds the old and the new key" test "$(kids)" = "$K1 $K2"
token new $(as dev) "${G[@]}" >/dev/null
NEW=$(field "$T/new.json" access_token)
check "new tokens are signed by the new key" test "$(kid_of "$NEW")" = "$K2"
curl -sS -o "$T/jwks2.json" "$PUB/.well-known/jwks.json"
check "a token of the old key still verifies" \
	verify "$OLD" "$T/jwks2.json" "$X5T" "$AUD" 10 "$URL"
check "a token of the new key verifies" \
	verify "$NEW" "$T/jwks2.json" "$X5T" "$AUD" 10 "$URL"
# The CLI rotates beside the running server; every worker follows.
check "rotate with the CLI while serving" tessera token rotate --data "$D"
K3=$(sed -n 's/^new token-signing key: kid //p' "$T/last.out")
check "the CLI's key is in the JWKS" bash -c \
	"curl -sS '$PUB/.well-known/jwks.json' | grep -qF '\"kid\":\"$K3\"'"
ok=1
for i in 1 2 3 4; do
	token w$i $(as dev) "${G[@]}" >/dev/null
	[ "$(kid_of "$(field "$T/w$i.json" access_token)")" = "$K3" ] || ok=0
done
check "every worker signs with the CLI's key" test "$ok" = 1
check "non-admins may not rotate" bash -c "[ \"\$(curl -sS --max-time 20 \
	--cacert '$D/ca/chain.pem' --cert '$T/dev.pem' --key '$T/dev.key' \
	-o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{}' '$URL/api/v1/token-keys')\" = 403 ]"
sleep 12
check "retired keys leave the JWKS once their tokens expired" \
	test "$(kids)" = "$K3"
curl -sS -o "$T/jwks3.json" "$PUB/.well-known/jwks.json"
refuse "a token of a key that left the JWKS no longer verifies" "" \
	verify "$OLD" "$T/jwks3.json" "$X5T" "$AUD" 10 "$URL"
# --- expired certificates ---------------------------------------------------
# The server's clock 32 days on (faketime; the device certificate lives 30
# days, renewal grace 7): the certificate may still renew, never get a
# token. 40 days on it is not accepted at all.
stop_server
# libfaketime preloaded directly: the faketime wrapper would stand between
# the test and the server's pid.
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -1)
late() { # DAYS: tessera serve with its clock DAYS ahead
	local pid
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		LD_PRELOAD=$FAKETIME_LIB FAKETIME="+$1d" \
		"$TESSERA_BIN" serve --data "$D" \
		--listen "127.0.0.1:$P1" --publish "127.0.0.1:$P2" --workers 1 \
		>>"$T/late.out" 2>>"$T/late.err" &
	pid=$!
	cleanup_hooks+=("stop_server $pid")
	wait_healthz "$P2" 30 || fail "the server $1 days ahead did not start"
	SERVER_PID=$pid
}
late 32
expect expired 400 unauthorized_client $(as dev) "${G[@]}"
check "the refusal says the certificate expired" \
	grep -q "has expired; renew it" "$T/expired.json"
stop_server
late 40
expect expired_beyond 401 invalid_client $(as dev) "${G[@]}"
stop_server
check "rotations are audited" test "$(db "SELECT count(*) FROM audit
	WHERE action = 'rotate'")" = 2
check "the audit chain verifies" tessera audit verify --data "$D"
finish
