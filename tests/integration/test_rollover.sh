#!/usr/bin/env bash
# Issuing-CA rollover end to end: `tessera ca rollover` under a running
# serve, with enrollments running back to back through it and its reload
# (every one answered 200: an old worker never asks the new signer, which
# holds the old key as retiring); a device enrolled before and one after
# are both admitted by nginx trusting the chain (CRL and OCSP modes)
# during the overlap; the old
# device's revocation is on the old CA's CRL (signed by the old key) and
# OCSP says revoked, signed by the old CA; strict parsers (openssl verify,
# GnuTLS certtool, python3 cryptography) accept both chains; then, with the
# server's clock past the last old certificate (libfaketime), the old CA
# is retired: audited, out of cacerts, chain.pem and tessera.json.
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
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$1"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# ncerts FILE: how many certificates a PEM file holds.
ncerts() { grep -c 'BEGIN CERTIFICATE' "$1"; }
# cacerts_count: the certificates /cacerts serves now.
cacerts_count() {
	"${CURL[@]}" "$EST/cacerts" | base64 -d |
		openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		grep -c 'BEGIN CERTIFICATE'
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
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
gw() {
	"${CURL[@]}" -o "$T/gw.out" -w '%{http_code}' --cert "$T/$2.pem" \
		--key "$T/$2.key" "https://localhost:$1/" 2>>"$T/gw.err"
}
admitted() {
	local code
	code=$(gw "$1" "$2")
	[ "$code" = 200 ] && grep -qx admitted "$T/gw.out" && pass ||
		fail "$3: HTTP $code, want 200 admitted"
}

# --- before: one issuing CA ----------------------------------------------------
check "init" tessera init --data "$D" --name "Rollover Test" --publish-url "$PUB"
if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	finish
	exit
fi
pass
enroll dev-old
enroll dev-mid
cp "$D/ca/issuing.pem" "$T/old-ca.pem"
check "cacerts before: issuing CA and root" test "$(cacerts_count)" = 2

# --- the rollover, under load ---------------------------------------------------
# Enrollments run back to back in four loops through the rollover and its
# reload, until the reload is complete: each must be answered 200 (a
# request cut by a draining worker closing its connection is retried; a
# 401 then means the cut one had committed). A worker of the old
# generation signs through the old generation's signer until it is gone:
# the new signer holds the old key as retiring only (CRLs and OCSP), and
# an old worker that reached it could not issue.
C=$T/load
mkdir -p "$C"
JS=(-H 'Content-Type: application/json')
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")
mint_clients "$API/enrollment-secrets" ro 150 l1 l2 l3 l4
enroll_loop() { # NAME
	local name=$1 dev sec rc code tries v
	while read -r dev sec; do
		is_stopping && break
		openssl req -new -key "$C/$name.key" -subj "/CN=$dev" \
			-addext "subjectAltName=URI:urn:dev:$dev" -outform DER \
			2>/dev/null | base64 -w0 >"$C/$name.csr"
		tries=0
		while :; do
			read -r rc code < <(post_rc "$C/$name.out" "$EST/simpleenroll" \
				-H 'Content-Type: application/pkcs10' -u "$dev:$sec" \
				--data-binary @"$C/$name.csr")
			v=$(attempt_verdict "$rc" "$code" "$tries")
			[ "$v" = retry ] && [ "$tries" -ge 20 ] && v=bad
			case $v in
			ok | used)
				echo "$dev" >>"$C/$name.ok"
				break
				;;
			retry)
				tries=$((tries + 1))
				echo "$dev" >>"$C/$name.retried"
				sleep 0.1
				;;
			*)
				echo "$dev: HTTP $code $(head -c 200 "$C/$name.out")" >>"$C/$name.bad"
				break
				;;
			esac
		done
	done <"$C/$name.secrets"
	is_stopping || echo done >"$C/$name.end"
}
cleanup_hooks+=(stop_clients)
reloads_before=$(grep -c 'reload [0-9]* complete' "$T/serve.err")
for l in l1 l2 l3 l4; do client enroll_loop "$l"; done
oks() { cat "$C"/*.ok 2>/dev/null | wc -l; }
check "enrollments run before the rollover" wait_expr 60 '[ "$(oks)" -ge 8 ]'
before=$(oks)
check "ca rollover" tessera ca rollover --data "$D"
cp "$T/last.out" "$T/rollover.out"
reloaded() { [ "$(grep -c 'reload [0-9]* complete' "$T/serve.err")" -gt "$reloads_before" ]; }
check "the rollover's reload completes under load" wait_expr 60 reloaded
after=$(oks)
check "enrollments ran after the reload" wait_expr 60 '[ "$(oks)" -ge $((after + 8)) ]'
# Each loop ends after the enrollment it is in.
touch "$C/stop"
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null; done
CLIENTS=()
echo "enrollments: $before before the rollover, $(oks) in all," \
	"$(cat "$C"/*.retried 2>/dev/null | wc -l) retried" >&2
bad=$(cat "$C"/*.bad 2>/dev/null | wc -l)
[ "$bad" = 0 ] && pass || {
	fail "$bad enrollments through the rollover were not answered 200:"
	cat "$C"/*.bad | head -5 | sed 's/^/    /' >&2
}
ended=$(ls "$C"/*.end 2>/dev/null | wc -l)
check "no loop ran out of secrets before the reload completed" test "$ended" = 0
grep -q "sent SIGHUP to tessera serve" "$T/rollover.out" && pass ||
	fail "ca rollover did not signal the running serve"
check "ca/retiring.pem is the old issuing CA" cmp <(openssl x509 -in \
	"$D/ca/retiring.pem" -outform DER) <(openssl x509 -in "$T/old-ca.pem" \
	-outform DER)
check "tessera.json names the retiring key" grep -q '"retiring"' "$D/tessera.json"
check "ca/chain.pem holds both issuing CAs and the root" \
	test "$(ncerts "$D/ca/chain.pem")" = 3
NEWCN=$(openssl x509 -in "$D/ca/issuing.pem" -noout -subject)
OLDCN=$(openssl x509 -in "$T/old-ca.pem" -noout -subject)
check "the new issuing CA has a name of its own" test "$NEWCN" != "$OLDCN"
check "the rollover is audited" test "$(db "SELECT count(*) FROM audit
	WHERE action = 'ca.rollover'")" = 1
check "both generations recorded" test "$(db "SELECT group_concat(gen)
	FROM (SELECT gen FROM issuers ORDER BY gen)")" = "0,1"
cacerts_is() { test "$(cacerts_count)" = "$1"; }
check "cacerts has both issuing CAs after the reload" wait_for 30 cacerts_is 3
refuse "a second rollover while the first retires" "in a rollover already" \
	tessera ca rollover --data "$D"

# /healthz, /metrics and tessera status list the retiring CA during the
# overlap, with when it retires (its certificates' latest notAfter).
unix_end() { date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }
OLD_END=$(unix_end "$T/old-ca.pem")
DEVOLD_END=$(unix_end "$T/dev-old.pem")
# hz_retiring: "NOT_AFTER RETIRES_AT" of /healthz's retiring CA, or "none".
hz_retiring() {
	curl -sS --max-time 10 "$PUB/healthz" | python3 -c '
import json, sys
c = [x for x in json.load(sys.stdin)["ca"] if x["certificate"] == "retiring"]
print("%d %d %d" % (c[0]["not_after"], c[0].get("retires_at", 0),
    c[0]["days_left"]) if c else "none")'
}
hz_lists_retiring() {
	local na ra dl
	read -r na ra dl <<<"$(hz_retiring)"
	[ "$na" = "$OLD_END" ] && [ "$ra" -ge "$DEVOLD_END" ] &&
		[ "$ra" -le "$OLD_END" ] && [ "$dl" -gt 0 ]
}
hz_lists_none() { test "$(hz_retiring)" = none; }
metric_retiring() {
	curl -sS --max-time 10 "$PUB/metrics" |
		grep -q "^tessera_ca_cert_expiry_timestamp_seconds{ca=\"retiring\"} "
}
check "/healthz lists the retiring CA, its notAfter and when it retires" \
	wait_for 30 hz_lists_retiring
check "/metrics has the retiring CA's notAfter" metric_retiring
"$TESSERA_BIN" status --data "$D" --server "$PUB" >"$T/status-overlap.out" 2>&1
check "tessera status lists the retiring CA and when it retires" grep -qE \
	'^  retiring .*expires .*, retires ' "$T/status-overlap.out"

enroll dev-new
check "dev-new comes from the new issuing CA" test "$(openssl x509 -in \
	"$T/dev-new.pem" -noout -issuer | sed 's/^issuer=//')" = \
	"$(echo "$NEWCN" | sed 's/^subject=//')"
check "dev-old came from the old one" test "$(openssl x509 -in \
	"$T/dev-old.pem" -noout -issuer | sed 's/^issuer=//')" = \
	"$(echo "$OLDCN" | sed 's/^subject=//')"
check "dev-new's CRL is the new CA's own" grep -q "/crl/issuing-g1.crl" \
	<(openssl x509 -in "$T/dev-new.pem" -noout -ext crlDistributionPoints)
# caIssuers (AIA chasing): each CA at the URL its certificates name.
der() { openssl x509 -in "$1" -outform DER; }
check "dev-new's caIssuers is the new CA's own" grep -q "/ca/issuing-g1.crt" \
	<(openssl x509 -in "$T/dev-new.pem" -noout -ext authorityInfoAccess)
check "dev-old's caIssuers is /ca/issuing.crt" grep -q "/ca/issuing.crt" \
	<(openssl x509 -in "$T/dev-old.pem" -noout -ext authorityInfoAccess)
check "/ca/issuing-g1.crt serves the new CA" cmp <(curl -sSf \
	"$PUB/ca/issuing-g1.crt") <(der "$D/ca/issuing.pem")
check "/ca/issuing.crt serves the old CA during the overlap" cmp <(curl \
	-sSf "$PUB/ca/issuing.crt") <(der "$T/old-ca.pem")
code=$(curl -sS -o /dev/null -w '%{http_code}' "$PUB/ca/issuing-g7.crt")
[ "$code" = 404 ] && pass || fail "/ca/issuing-g7.crt: HTTP $code, want 404"

# A device of the old CA renews during the overlap (mutual TLS with its old
# certificate) and gets a certificate of the new CA.
csr dev-mid2 "/CN=dev-mid" -addext "subjectAltName=URI:urn:dev:dev-mid"
code=$(openssl req -in "$T/dev-mid2.csr" -outform DER | base64 -w0 |
	"${CURL[@]}" -o "$T/dev-mid2.p7" -w '%{http_code}' --cert "$T/dev-mid.pem" \
		--key "$T/dev-mid.key" -H 'Content-Type: application/pkcs10' \
		--data-binary @- "$EST/simplereenroll")
[ "$code" = 200 ] && pass || fail "dev-mid (old CA) renews: HTTP $code"
base64 -d "$T/dev-mid2.p7" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	openssl x509 -out "$T/dev-mid2.pem" 2>/dev/null
check "dev-mid's renewal comes from the new CA" test "$(openssl x509 -in \
	"$T/dev-mid2.pem" -noout -issuer | sed 's/^issuer=//')" = \
	"$(echo "$NEWCN" | sed 's/^subject=//')"

# --- strict parsers accept both chains ----------------------------------------
cat "$D/ca/chain.pem" >"$T/bundle.pem"
for d in dev-old dev-new; do
	check "openssl verify $d" openssl verify -x509_strict \
		-CAfile "$T/bundle.pem" "$T/$d.pem"
done
openssl x509 -in "$D/ca/root.pem" >"$T/root.pem"
cat "$T/dev-old.pem" "$D/ca/retiring.pem" >"$T/chain-old.pem"
cat "$T/dev-new.pem" "$D/ca/issuing.pem" >"$T/chain-new.pem"
for c in chain-old chain-new; do
	check "certtool --verify-chain $c" certtool --verify \
		--load-ca-certificate "$T/root.pem" --infile "$T/$c.pem"
done
check "python3 cryptography verifies both chains" python3 - "$T" <<'EOF'
import sys
from cryptography import x509
t = sys.argv[1]
def load(p):
    return x509.load_pem_x509_certificates(open(p, "rb").read())
root = load(t + "/root.pem")[0]
for name in ("chain-old", "chain-new"):
    leaf, ca = load(t + "/" + name + ".pem")
    leaf.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(root)
    assert ca.extensions.get_extension_for_class(
        x509.BasicConstraints).value.ca
print("ok")
EOF

# --- nginx trusts the chain through the rollover --------------------------------
N=$T/nginx
mkdir -p "$N"
check "both issuing CAs' CRLs are published" wait_for 30 sh -c \
	"[ -s '$D/crl/issuing.crl' ] && [ -s '$D/crl/issuing-g1.crl' ]"
nginx_gateway_conf "$N" "$D" "$G1" "$G2" "$PUB/ocsp"
NGX=("$NGINX" -p "$N" -c "$N/nginx.conf")
"${NGX[@]}" >"$N/stdout" 2>"$N/stderr" &
NGINX_PID=$!
cleanup_hooks+=("kill -TERM $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null")
nginx_up() {
	[ -n "$(ss -ltnH "sport = :$G1")" ] && [ -n "$(ss -ltnH "sport = :$G2")" ]
}
if ! wait_for 10 nginx_up; then
	fail "nginx did not start"
	sed 's/^/    /' "$N/stderr" "$N/error.log" >&2
	finish
	exit
fi
for d in dev-old dev-new; do
	admitted "$G1" "$d" "CRL gateway during the overlap: $d"
	admitted "$G2" "$d" "OCSP gateway during the overlap: $d"
done

# --- the old device revoked: the old CA's CRL and OCSP ---------------------------
S=$(serial_of "$T/dev-old.pem")
code=$("${CURL[@]}" -o "$T/revoke.out" -w '%{http_code}' \
	--cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
	-H 'Content-Type: application/json' -d '{"reason":"keyCompromise"}' \
	"$API/certificates/$S/revoke")
[ "$code" = 200 ] && pass ||
	fail "revoke dev-old with the admin certificate of the old CA: HTTP $code"
lists() { # CRLFILE SERIAL
	openssl crl -inform DER -in "$1" -noout -text 2>/dev/null |
		grep -qi "Serial Number: *$2\$"
}
check "the old CA's CRL lists dev-old" wait_for 15 lists "$D/crl/issuing.crl" "$S"
check "the old CA's CRL is signed by the old key" openssl crl -inform DER \
	-in "$D/crl/issuing.crl" -CAfile "$D/ca/retiring.pem" -noout
refuse "the old CA's CRL is not the new key's" "" openssl crl -inform DER \
	-in "$D/crl/issuing.crl" -CAfile "$D/ca/issuing.pem" -noout
check "the new CA's CRL is signed by the new key" openssl crl -inform DER \
	-in "$D/crl/issuing-g1.crl" -CAfile "$D/ca/issuing.pem" -noout
check "the new CA's CRL does not list dev-old" sh -c "! openssl crl \
	-inform DER -in '$D/crl/issuing-g1.crl' -noout -text |
	grep -qi 'Serial Number: *$S\$'"
check "the old CA's CRL is served" curl -sSf -o "$T/served.crl" "$PUB/crl/issuing.crl"
check "the new CA's CRL is served" curl -sSf -o /dev/null "$PUB/crl/issuing-g1.crl"
check "OCSP: dev-old revoked, signed by the old CA" sh -c "openssl ocsp \
	-issuer '$D/ca/retiring.pem' -cert '$T/dev-old.pem' -url '$PUB/ocsp' \
	-VAfile '$D/ca/retiring.pem' -no_nonce 2>&1 | tee '$T/ocsp-old.out' |
	grep -q ': revoked' && grep -q 'Response verify OK' '$T/ocsp-old.out'"
check "OCSP: dev-new good, by the new CA's responder" sh -c "openssl ocsp \
	-issuer '$D/ca/issuing.pem' -cert '$T/dev-new.pem' -url '$PUB/ocsp' \
	-CAfile '$T/bundle.pem' -no_nonce 2>&1 | tee '$T/ocsp-new.out' |
	grep -q ': good' && grep -q 'Response verify OK' '$T/ocsp-new.out'"
cp "$D/crl/crl-chain.pem" "$N/crl.pem.new" && mv "$N/crl.pem.new" "$N/crl.pem"
check "nginx -s reload" "${NGX[@]}" -s reload
check "CRL gateway refuses dev-old after the revocation" wait_for 10 \
	sh -c "[ \"\$(curl -sS --max-time 5 --cacert '$D/ca/chain.pem' -o /dev/null \
	-w '%{http_code}' --cert '$T/dev-old.pem' --key '$T/dev-old.key' \
	https://localhost:$G1/)\" = 400 ]"
admitted "$G1" dev-new "CRL gateway after dev-old's revocation: dev-new"
code=$(gw "$G2" dev-old)
[ "$code" = 400 ] && pass || fail "OCSP gateway, dev-old revoked: HTTP $code"
admitted "$G2" dev-new "OCSP gateway after dev-old's revocation: dev-new"

# --- retirement: the server's clock past every old certificate ------------------
# Not before: the ticks so far (seconds of them) left the old CA alone.
check "the old CA is not retired while its certificates are valid" test \
	"$(db "SELECT count(*) FROM audit WHERE action = 'ca.retire'")" = 0
check "ca/retiring.pem is still there" test -s "$D/ca/retiring.pem"
stop_server
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -1)
touch "$T/late.err"
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	LD_PRELOAD=$FAKETIME_LIB FAKETIME="+400d" \
	"$TESSERA_BIN" serve --data "$D" --listen "127.0.0.1:$P1" \
	--publish "127.0.0.1:$P2" --workers 1 >>"$T/late.out" 2>>"$T/late.err" &
LATE=$!
cleanup_hooks+=("stop_server $LATE")
wait_healthz "$P2" 60 && pass || fail "the server 400 days on did not start"
check "the old CA is retired (logged)" wait_for 60 grep -q \
	"issuing CA .* retired" "$T/late.err"
check "the retirement is audited" test "$(db "SELECT count(*)
	FROM audit WHERE action = 'ca.retire'")" = 1
check "the issuers row says retired" test "$(db "SELECT count(*) FROM issuers
	WHERE gen = 0 AND retired IS NOT NULL")" = 1
check "ca/retiring.pem is gone" test ! -e "$D/ca/retiring.pem"
check "ca/retiring.pem is kept as ca/retired-g0.pem" test -s "$D/ca/retired-g0.pem"
check "ca/chain.pem: the new CA and the root" test "$(ncerts "$D/ca/chain.pem")" = 2
# The server's TLS certificate was renewed 400 days on: not valid yet
# for this (real) clock, so cacerts is read without checking it.
late_cacerts() {
	curl -sS -k --max-time 10 "$EST/cacerts" | base64 -d |
		openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		grep -c 'BEGIN CERTIFICATE'
}
late_cacerts_is() { test "$(late_cacerts)" = "$1"; }
check "cacerts without the old CA after the reload" wait_for 30 \
	late_cacerts_is 2
code=$(curl -sS -o /dev/null -w '%{http_code}' "$PUB/crl/issuing.crl")
[ "$code" = 404 ] && pass || fail "the retired CA's CRL is still served: $code"
check "the new CA's CRL is still served" curl -sSf -o /dev/null "$PUB/crl/issuing-g1.crl"
check "/ca/issuing.crt serves the new CA once the old one is retired" cmp \
	<(curl -sSf "$PUB/ca/issuing.crt") <(der "$D/ca/issuing.pem")
check "/healthz no longer lists the retired CA" wait_for 30 hz_lists_none
no_metric_retiring() { ! metric_retiring; }
check "/metrics no longer has the retired CA" no_metric_retiring
"$TESSERA_BIN" status --data "$D" --server "$PUB" >"$T/status-late.out" 2>&1
check "tessera status lists root and issuing" grep -q '^  issuing ' \
	"$T/status-late.out"
check "tessera status no longer lists the retired CA" test "$(grep -c \
	'^  retiring ' "$T/status-late.out")" = 0
stop_server "$LATE"
grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/late.err" &&
	fail "the server 400 days on reported a sanitizer error" || pass
check "ca rollover again once retired" tessera ca rollover --data "$D"
check "the audit chain verifies" tessera audit verify --data "$D"

# --- an offline root refuses, saying how ----------------------------------------
check "init --offline-root" tessera init --data "$T/off" --offline-root
refuse "rollover with an offline root" "offline root" \
	tessera ca rollover --data "$T/off"
finish
