#!/usr/bin/env bash
# tessera's own identity: the names of its TLS certificate (init --dns/--ip,
# kept in tessera.json, changed by renew tls and taken up on SIGHUP),
# reached by name with curl --resolve and verified without -k; bad names
# refused with the rule they break and nothing written; EST never hands a
# gateway one of those names; serve warns when a listener is not on its
# URL's port.
. "$(dirname "$0")/lib.sh"
D=$T/var
ports=$(pick_ports 4) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 P3 P4 <<<"$ports"

# --- Bad names: refused with the rule, nothing created. ----------------
bad() {
	refuse "init --$1 '$2'" "$3" "$TESSERA_BIN" init --data "$T/bad" "--$1" "$2"
	[ ! -e "$T/bad" ] && pass || fail "init --$1 '$2' left $T/bad behind"
}
bad dns '*.acme.example' "no wildcard names"
bad dns 'ca_1.acme.example' "letters, digits, '-' and '.' only (RFC 1123 §2.1)"
bad dns '-ca.acme.example' "a label starts with '-'"
bad dns 'ca-.acme.example' "a label ends with '-'"
bad dns 'ca..acme.example' "every label is 1 to 63 characters"
bad dns "$(printf 'a%.0s' $(seq 64)).example" "every label is 1 to 63 characters"
bad dns '10.1.2.3' "is an IP address; give it with --ip"
bad ip '10.1.2' "is neither IPv4 nor IPv6"
bad ip '[::1]' "is neither IPv4 nor IPv6"
bad ip '0.0.0.0' "is unspecified"
refuse "init with a bad --url host" 'the host of the URL https://ca_1.example:8443' \
	"$TESSERA_BIN" init --data "$T/bad" --url https://ca_1.example:8443

# --- A listener on another port than its URL: a warning. ----------------
check "init (default URLs)" "$TESSERA_BIN" init --data "$T/other"
if start_server "$T/other" "$P3" "$P4" 1; then
	grep -q "the publication listener 127.0.0.1:$P4 is not on the port of the publish URL http://127.0.0.1:8080" \
		"$T/serve.err" && pass || fail "no warning about the publish port"
	grep -q "the TLS listener 127.0.0.1:$P3 is not on the port of the URL https://localhost:8443" \
		"$T/serve.err" && pass || fail "no warning about the TLS port"
	stop_server
else
	fail "server on $T/other did not start"
fi
: >"$T/serve.err"

# --- init with names. ------------------------------------------------------
check "init --dns --ip" "$TESSERA_BIN" init --data "$D" \
	--url "https://ca.acme.example:$P1" --publish-url "http://127.0.0.1:$P2" \
	--dns ca.acme.example --ip 127.0.0.2
grep -q "TLS names:    DNS:ca.acme.example IP:127.0.0.2" "$T/last.out" &&
	grep -q "listeners:    https://127.0.0.1:$P1 and http://127.0.0.1:$P2" "$T/last.out" &&
	grep -q "publish URL:  http://127.0.0.1:$P2" "$T/last.out" && pass ||
	fail "init did not say what it wrote: $(cat "$T/last.out")"
san() { openssl x509 -in "$D/tls/server.pem" -noout -ext subjectAltName | tail -n +2 | tr -d ' '; }
[ "$(san)" = "DNS:ca.acme.example,IPAddress:127.0.0.2" ] && pass ||
	fail "TLS SAN is '$(san)'"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tls"]; sys.exit(t != {"dns": ["ca.acme.example"], "ip": ["127.0.0.2"]})' \
	"$D/tessera.json" && pass || fail "tessera.json does not keep the names"
# The host of --url is added when not given.
check "init --url only" "$TESSERA_BIN" init --data "$T/url" --url https://CA.Example.NET:9443
[ "$(openssl x509 -in "$T/url/tls/server.pem" -noout -ext subjectAltName | tail -n +2 | tr -d ' ')" = \
	"DNS:localhost,DNS:ca.example.net,IPAddress:127.0.0.1" ] && pass ||
	fail "the URL's host was not added to the defaults"

if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not start"
	finish
	exit
fi
pass
grep -q "is not on the port" "$T/serve.err" && fail "a warning although the ports match" || pass

# By name, verified against the chain (no -k).
get_by_name() {
	curl -sS --max-time 10 --resolve "$1:$P1:127.0.0.1" --cacert "$D/ca/chain.pem" \
		-o "$T/cacerts.out" -w '%{http_code}' "https://$1:$P1/.well-known/est/cacerts"
}
[ "$(get_by_name ca.acme.example)" = 200 ] && pass || fail "https://ca.acme.example:$P1 not reached"
code=$(get_by_name localhost 2>"$T/curl.err")
[ "$code" != 200 ] && grep -qi "certificate\|subject" "$T/curl.err" && pass ||
	fail "localhost is no name of the certificate, yet curl got $code"

# --- renew tls --dns: stored, renewed, served after SIGHUP. ---------------
refuse "renew tls with a wildcard" "no wildcard names" \
	"$TESSERA_BIN" renew --data "$D" tls --dns '*.other.example'
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tls"]; sys.exit(t != {"dns": ["ca.acme.example"], "ip": ["127.0.0.2"]})' \
	"$D/tessera.json" && pass || fail "a refused renew changed tessera.json"
refuse "--dns without tls" "--dns and --ip go with 'tls'" \
	"$TESSERA_BIN" renew --data "$D" ocsp --dns other.example
check "renew tls --dns" "$TESSERA_BIN" renew --data "$D" tls \
	--dns other.example --dns gw-own.gw.tessera.invalid
grep -q "TLS names:    DNS:other.example DNS:gw-own.gw.tessera.invalid DNS:ca.acme.example" \
	"$T/last.out" && pass || fail "renew did not print the names: $(cat "$T/last.out")"
[ "$(san)" = "DNS:other.example,DNS:gw-own.gw.tessera.invalid,DNS:ca.acme.example" ] && pass ||
	fail "renewed SAN is '$(san)'"
kill -HUP "$SERVER_PID"
n=300
until grep -q "reload 1 complete" "$T/serve.err" || [ "$n" = 0 ]; do
	sleep 0.1
	n=$((n - 1))
done
[ "$n" -gt 0 ] && pass || fail "reload 1 did not complete within 30 s"
[ "$(get_by_name other.example)" = 200 ] && pass || fail "https://other.example:$P1 not served after SIGHUP"
code=$(get_by_name ca.acme.example)
[ "$code" = 200 ] && pass || fail "the URL's host is no longer served ($code)"
# The scheduled renewal keeps the names: a fresh authority reads them.
check "renew tls (names kept)" "$TESSERA_BIN" renew --data "$D" tls
[ "$(san)" = "DNS:other.example,DNS:gw-own.gw.tessera.invalid,DNS:ca.acme.example" ] && pass ||
	fail "a plain renewal lost the names: '$(san)'"

# --- EST never issues one of tessera's names (a --dns name, not a URL's).
API=https://ca.acme.example:$P1/api/v1
C=(curl -sS --max-time 20 --resolve "ca.acme.example:$P1:127.0.0.1" --cacert "$D/ca/chain.pem")
kill -HUP "$SERVER_PID"
n=300
until grep -q "reload 2 complete" "$T/serve.err" || [ "$n" = 0 ]; do
	sleep 0.1
	n=$((n - 1))
done
code=$("${C[@]}" --cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
	-H 'Content-Type: application/json' -o "$T/mint.out" -w '%{http_code}' \
	-d '{"device": "gw-own", "profile": "gateway"}' "$API/enrollment-secrets")
[ "$code" = 201 ] && pass || fail "minting for gw-own: HTTP $code"
GO=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$T/mint.out")
csr gwown /CN=gw-own
openssl req -in "$T/gwown.csr" -outform DER | base64 -w0 >"$T/gwown.b64"
code=$("${C[@]}" -o "$T/gwown.out" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
	-u "gw-own:$GO" --data-binary @"$T/gwown.b64" \
	"https://ca.acme.example:$P1/.well-known/est/gateway/simpleenroll")
[ "$code" = 403 ] && grep -q "subjectAltName DNS gw-own.gw.tessera.invalid is tessera's own server name" \
	"$T/gwown.out" && pass || fail "gateway named like tessera's --dns name: $code $(cat "$T/gwown.out")"
finish
