#!/usr/bin/env bash
# Roles an operator hands out: tessera issue --profile operator|auditor|
# admin gives a person a client certificate and key (0600); over the API
# an operator revokes but never reinstates or reads the audit, an auditor
# reads the audit but never revokes (403 naming the role, state
# untouched); renew admin replaces the first admin's certificate and both
# work until the old one expires; serve warns in its log and in /healthz
# about a role certificate within 30 days of expiry (issued with the clock
# 340 days back by libfaketime), and about no other.
. "$(dirname "$0")/lib.sh"
D=$T/var
ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
API=https://localhost:$P1/api/v1
C=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")
JSON=(-H 'Content-Type: application/json')
db() { sqlite3 "$D/tessera.db" "$1"; }

check "init" "$TESSERA_BIN" init --data "$D" --url "https://localhost:$P1" \
	--publish-url "http://127.0.0.1:$P2"
for who in operator:alice auditor:bob admin:dana; do
	check "issue $who" "$TESSERA_BIN" issue --data "$D" --profile "${who%%:*}" \
		--name "${who#*:}" --key "$T/${who#*:}.key" --out "$T/${who#*:}.pem"
	mode_is "$T/${who#*:}.key" 600 && pass || fail "${who#*:}.key is not 0600"
	openssl x509 -in "$T/${who#*:}.pem" -noout -subject -nameopt RFC2253 |
		grep -qx "subject=CN=${who#*:},O=tessera" && pass ||
		fail "${who#*:}: subject $(openssl x509 -in "$T/${who#*:}.pem" -noout -subject)"
done
[ "$(db "SELECT profile FROM certificates WHERE subject LIKE '%CN=alice%'")" = operator ] &&
	pass || fail "alice's row is not of profile operator"
refuse "issue a device profile without a CSR" "is an enrollment profile" \
	"$TESSERA_BIN" issue --data "$D" --profile device --name x --key "$T/x.key" --out "$T/x.pem"
refuse "issue an unknown role profile" "no profile root" \
	"$TESSERA_BIN" issue --data "$D" --profile root --name x --key "$T/x.key" --out "$T/x.pem"
refuse "issue to a non-canonical name" 'use "eve"' \
	"$TESSERA_BIN" issue --data "$D" --profile operator --name Eve --key "$T/x.key" --out "$T/x.pem"
[ ! -e "$T/x.key" ] && pass || fail "a refused issue wrote a key"

# carol's operator certificate has 25 days left.
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -1)
check "issue carol 340 days ago" env \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	LD_PRELOAD="$FAKETIME_LIB" FAKETIME=-340d \
	"$TESSERA_BIN" issue --data "$D" --profile operator --name carol \
	--key "$T/carol.key" --out "$T/carol.pem"
CAROL=$(openssl x509 -in "$T/carol.pem" -noout -serial | cut -d= -f2)

# The first admin renewed ahead of time: a new key, both certificates work.
cp "$D/admin/admin.pem" "$T/admin-old.pem"
cp "$D/admin/admin.key" "$T/admin-old.key"
check "renew admin" "$TESSERA_BIN" renew --data "$D" admin
cmp -s "$D/admin/admin.key" "$T/admin-old.key" && fail "renew admin kept the key" || pass
mode_is "$D/admin/admin.key" 600 && pass || fail "admin.key is not 0600"

# Two devices.
for dev in dev-1 dev-2; do
	csr "$dev" "/CN=$dev" -addext "subjectAltName=URI:urn:dev:$dev"
	check "issue $dev" "$TESSERA_BIN" issue --data "$D" --csr "$T/$dev.csr" \
		--profile device --out "$T/$dev.pem"
done
S2=$(openssl x509 -in "$T/dev-2.pem" -noout -serial | cut -d= -f2)

if ! start_server "$D" "$P1" "$P2" 1; then
	fail "server did not start"
	finish
	exit
fi
pass

# as NAME METHOD PATH [BODY]: the status code; the body in $T/as.out.
as() {
	local who=$1 method=$2 path=$3 body=${4-}
	local args=(--cert "$T/$who.pem" --key "$T/$who.key" -o "$T/as.out" -w '%{http_code}' -X "$method")
	[ -n "$body" ] && args+=("${JSON[@]}" -d "$body")
	"${C[@]}" "${args[@]}" "$API/$path"
}
expect() {
	local what=$1 want=$2 msg=$3
	shift 3
	local code
	code=$(as "$@")
	if [ "$code" = "$want" ] && { [ -z "$msg" ] || grep -qF "$msg" "$T/as.out"; }; then pass; else
		fail "$what: HTTP $code $(cat "$T/as.out")"
	fi
}
cp "$D/admin/admin.pem" "$T/admin.pem"
cp "$D/admin/admin.key" "$T/admin.key"

# Operator: revokes, never reinstates, never reads the audit.
expect "operator revokes dev-1" 200 "" alice POST devices/dev-1/revoke '{"reason": "keyCompromise"}'
expect "operator reinstates dev-1" 403 "role operator may not reinstate" alice POST devices/dev-1/reinstate '{}'
[ "$(db "SELECT status FROM devices WHERE id = 'dev-1'")" = blocked ] &&
	pass || fail "the operator's refused reinstate unblocked dev-1"
expect "operator reads the audit" 403 "role operator may not audit" alice GET 'audit?since=0'
expect "operator lists certificates" 200 "" alice GET 'certificates?limit=5'

# Auditor: reads the audit, never revokes.
expect "auditor reads the audit" 200 '"entries"' bob GET 'audit?since=0'
expect "auditor revokes dev-2's certificate" 403 "role auditor may not revoke" \
	bob POST "certificates/$S2/revoke" '{"reason": "keyCompromise"}'
[ "$(db "SELECT status FROM certificates WHERE serial = '$S2'")" = "$(db "SELECT status FROM certificates WHERE serial = '$(openssl x509 -in "$T/alice.pem" -noout -serial | cut -d= -f2)'")" ] &&
	pass || fail "the auditor's refused revoke changed dev-2's certificate"
expect "auditor revokes a device" 403 "role auditor may not revoke" bob POST devices/dev-2/revoke '{"reason": "keyCompromise"}'
expect "auditor reinstates" 403 "role auditor may not reinstate" bob POST devices/dev-1/reinstate '{}'

# Admins: dana (issued), the renewed first admin and the one before it.
expect "issued admin reinstates dev-1" 200 "" dana POST devices/dev-1/reinstate '{}'
[ "$(db "SELECT status FROM devices WHERE id = 'dev-1'")" = active ] && pass ||
	fail "dev-1 is not active after the admin's reinstate"
expect "renewed admin reads" 200 "" admin GET "certificates/$S2"
expect "old admin certificate reads" 200 "" admin-old GET "certificates/$S2"

# Expiry: carol's certificate (25 days left), nobody else's.
n=300
until grep -q "the operator certificate .*CN=carol" "$T/serve.err" || [ "$n" = 0 ]; do
	sleep 0.1
	n=$((n - 1))
done
grep -Eq "warn: the operator certificate CN=carol,O=tessera \(serial $CAROL\) expires in 2[45] days; renew it" \
	"$T/serve.err" && pass || fail "no expiry warning for carol in the log"
[ "$(grep -c "certificate .* expires in" "$T/serve.err")" = 1 ] && pass ||
	fail "expiry warnings for others: $(grep 'expires in' "$T/serve.err")"
curl -sS --max-time 10 "http://127.0.0.1:$P2/healthz" >"$T/health.json"
python3 - "$T/health.json" "$CAROL" <<'PY' && pass || fail "/healthz: $(cat "$T/health.json")"
import json, sys
h = json.load(open(sys.argv[1]))
e = h["expiring"]
assert h["status"] == "ok", h
assert len(e) == 1, e
assert e[0]["certificate"] == "operator" and e[0]["serial"] == sys.argv[2], e
assert "CN=carol" in e[0]["subject"] and e[0]["days_left"] in (24, 25), e
PY
# carol's successor: the warning is gone from /healthz within its minute.
check "issue carol again" "$TESSERA_BIN" issue --data "$D" --profile operator --name carol \
	--key "$T/carol2.key" --out "$T/carol2.pem"
n=90
until curl -sS --max-time 5 "http://127.0.0.1:$P2/healthz" | grep -q '"expiring":\[\]' || [ "$n" = 0 ]; do
	sleep 1
	n=$((n - 1))
done
[ "$n" -gt 0 ] && pass || fail "/healthz still lists carol after her new certificate"
finish
