#!/usr/bin/env bash
# Delegation and bindings, from the attacker's side: a station mints no
# secret for a profile or a device id it could not enroll itself, nor for
# a blocked device; the listing holds no secret material; cancelled
# secrets and those of a revoked station authenticate no more; a
# manufacturer's IDevID cannot take an id bound to another manufacturer; a
# station's id cannot be enrolled as a device; a block can precede the
# enrollment; audit actors tell a device called "admin" from the admin.
# Every refusal leaves every table but the audit as it was.
. "$(dirname "$0")/lib.sh"
read -r P1 P2 < <(pick_ports 2)
D=$T/var
API=https://localhost:$P1/api/v1
EST=https://localhost:$P1/.well-known/est
CURL=(curl -sS --cacert "$D/ca/chain.pem")
JS=(-H 'Content-Type: application/json')
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }

# api NAME METHOD PATH [curl args]: the body in $T/NAME.out; prints the code.
api() {
	local name=$1 method=$2 path=$3
	shift 3
	"${CURL[@]}" -X "$method" -o "$T/$name.out" -w '%{http_code}' "$@" \
		"$API/$path"
}
# jget FILE EXPR: a Python expression over the JSON j in FILE.
jget() {
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}
# expect NAME WHAT WANT GOT [TEXT]: the code, and TEXT in the answer.
expect() {
	local name=$1 what=$2 want=$3 got=$4 text=${5:-}
	if [ "$got" != "$want" ]; then
		fail "$what: HTTP $got, want $want"
		head -c 400 "$T/$name.out" 2>/dev/null | sed 's/^/    /' >&2
	elif [ -n "$text" ] && ! grep -qF -- "$text" "$T/$name.out"; then
		fail "$what: the answer does not say '$text'"
		head -c 400 "$T/$name.out" | sed 's/^/    /' >&2
	else pass; fi
}
# The store but the audit (and the CRLs and OCSP answers the publisher
# rebuilds on its own), row by row, and the schema.
snap() {
	local t sql="SELECT 'schema', type, name, sql FROM sqlite_master;"
	for t in $(db "SELECT name FROM sqlite_master WHERE type = 'table' AND
		name NOT IN ('audit', 'crls', 'ocsp_responses') ORDER BY name"); do
		sql="$sql SELECT '$t', * FROM \"$t\";"
	done
	db -cmd '.mode quote' "$sql" | sort >"$1"
}
# unchanged WHAT: the store is as snap "$T/before" left it.
unchanged() {
	snap "$T/after"
	if cmp -s "$T/before" "$T/after"; then pass; else
		fail "$1 changed the store"
		diff "$T/before" "$T/after" | head -10 | sed 's/^/    /' >&2
	fi
}
# mint NAME CERT-ARGS DEVICE PROFILE: POST enrollment-secrets.
mint() {
	local name=$1 dev=$3 prof=$4
	local -n who=$2
	api "$name" POST enrollment-secrets "${who[@]}" "${JS[@]}" \
		-d "{\"device\": \"$dev\", \"profile\": \"$prof\", \"ttl\": 3600}"
}
# enroll NAME ID SECRET: a CSR for ID, simpleenroll with the secret.
enroll() {
	csr "$1" "/CN=$2" && openssl req -in "$T/$1.csr" -outform DER |
		base64 -w0 >"$T/$1.b64"
	"${CURL[@]}" -o "$T/$1.p7" -w '%{http_code}' -u "$2:$3" \
		-H 'Content-Type: application/pkcs10' --data-binary @"$T/$1.b64" \
		"$EST/simpleenroll"
}

check "init" tessera init --data "$D"
# Two manufacturers whose namespaces overlap (sn0000..sn9999: an IDevID's
# SN0001 is the canonical sn0001), and a
# station role that may enroll and mint for line1-NNNN devices only.
mkca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1-ca.key" -subj "/O=$1/CN=$1 IDevID CA" -days 3650 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$D/$1-ca.pem" 2>/dev/null
}
idevid() { # CA NAME SERIAL
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$2.key" -subj "/serialNumber=$3/CN=Widget $3" \
		-out "$T/$2.csr" 2>/dev/null &&
		openssl x509 -req -in "$T/$2.csr" -CA "$D/$1-ca.pem" \
			-CAkey "$T/$1-ca.key" -CAcreateserial -days 3650 -out "$T/$2.pem" \
			-extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n') \
			2>/dev/null
}
mkca acme && mkca bravo && idevid acme acme1 SN0001 && idevid bravo bravo1 SN0001 &&
	idevid acme acmeout XX0001 && pass || fail "making the manufacturer CAs"
python3 -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
for name in ("acme", "bravo"):
    j["authenticators"]["manufacturers"].append({"name": name,
        "trust": name + "-ca.pem", "device_id": "serialNumber",
        "device_pattern": "^sn[0-9]{4}$", "profiles": ["device"]})
j["roles"]["station"]["device_pattern"] = "^line1-[0-9]{4}$"
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json" && pass ||
	fail "writing the policy"
csr station "/CN=station-01" && tessera issue --data "$D" --csr "$T/station.csr" \
	--profile station --out "$T/station.pem" >/dev/null && pass ||
	fail "issuing the station certificate"
STA_SERIAL=$(openssl x509 -in "$T/station.pem" -noout -serial | cut -d= -f2)
STA=(--cert "$T/station.pem" --key "$T/station.key")
start_server "$D" "$P1" "$P2" || {
	fail "server did not start"
	finish
	exit 1
}

# --- 1. delegation never exceeds the delegator -------------------------------
snap "$T/before"
code=$(mint gw STA line1-0001 gateway)
expect gw "station mints a gateway secret" 403 "$code" \
	"role station may not mint secrets for profile gateway"
unchanged "the refused gateway secret"
code=$(mint out STA other-0001 device)
expect out "station mints for a device outside its pattern" 403 "$code" \
	"role station may not mint secrets for device other-0001"
unchanged "the refused out-of-pattern secret"
code=$(mint ok1 STA line1-0002 device)
expect ok1 "station mints for its own device" 201 "$code"
SEC1=$(jget "$T/ok1.out" 'j["secret"]')

# --- 2. the lifecycle: list, cancel -----------------------------------------
code=$(api ls1 GET "enrollment-secrets?minter=$STA_SERIAL" "${ADM[@]}")
expect ls1 "admin lists the station's secrets" 200 "$code"
got=$(jget "$T/ls1.out" '[(s["device"], s["profile"], s["status"], s["minter"]["kind"], s["minter"]["id"], s["minter"]["serial"]) for s in j["secrets"]]')
[ "$got" = "[('line1-0002', 'device', 'outstanding', 'cert', 'station-01', '$STA_SERIAL')]" ] &&
	pass || fail "the station's secrets: $got"
HASH=$(printf '%s' "$SEC1" | sha256sum | cut -c1-64)
if [ -n "$SEC1" ] && ! grep -qiF -- "$SEC1" "$T/ls1.out" &&
	! grep -qiF -- "$HASH" "$T/ls1.out" && ! grep -q '"secret"\|"hash"' "$T/ls1.out"; then
	pass
else fail "the listing holds secret material"; fi
code=$(api ls2 GET "enrollment-secrets?minter=$STA_SERIAL" "${STA[@]}")
expect ls2 "a station lists secrets" 403 "$code" "role station may not secrets"
code=$(api ls3 GET "enrollment-secrets?minter=zz" "${ADM[@]}")
expect ls3 "a minter that is no serial" 400 "$code" "minter is"
ID1=$(jget "$T/ls1.out" 'j["secrets"][0]["id"]')
snap "$T/before"
code=$(api cs0 POST "enrollment-secrets/$ID1/cancel" "${STA[@]}" "${JS[@]}" -d '{}')
expect cs0 "a station cancels a secret" 403 "$code" "role station may not cancel"
unchanged "the station's refused cancellation"
code=$(api cs1 POST "enrollment-secrets/$ID1/cancel" "${ADM[@]}" "${JS[@]}" -d '{}')
expect cs1 "admin cancels the secret" 200 "$code" '"cancelled"'
snap "$T/before"
code=$(api cs2 POST "enrollment-secrets/$ID1/cancel" "${ADM[@]}" "${JS[@]}" -d '{}')
expect cs2 "cancelling it again" 409 "$code" "already cancelled"
code=$(enroll c1 line1-0002 "$SEC1")
[ "$code" = 401 ] && pass || fail "the cancelled secret enrolls: HTTP $code, want 401"
unchanged "the cancelled secret's enrollment"
n=$(db "SELECT count(*) FROM audit WHERE action = 'secret-cancel' AND object = 'secret $ID1'")
[ "$n" = 1 ] && pass || fail "the cancellation is audited $n times, want 1"

# Revoking the station cancels what it minted and nobody used.
code=$(mint ok2 STA line1-0003 device) && SEC2=$(jget "$T/ok2.out" 'j["secret"]')
code2=$(mint ok3 STA line1-0004 device)
[ "$code/$code2" = 201/201 ] && pass || fail "station mints two more: $code/$code2"
code=$(api rvs POST "certificates/$STA_SERIAL/revoke" "${ADM[@]}" "${JS[@]}" \
	-d '{"reason": "keyCompromise"}')
expect rvs "admin revokes the station" 200 "$code"
n=$(db "SELECT count(*) FROM enrollment_secrets WHERE minter_serial = '$STA_SERIAL'
	AND cancelled_at IS NOT NULL AND consumed_at IS NULL")
[ "$n" = 3 ] && pass || fail "$n of the station's 3 secrets are cancelled"
grep -q . <(db "SELECT 1 FROM audit WHERE action = 'revoke' AND object = '$STA_SERIAL'
	AND detail LIKE '%secrets_cancelled=2%'") && pass ||
	fail "the revocation's audit entry does not count the 2 cancelled secrets"
snap "$T/before"
code=$(enroll c2 line1-0003 "$SEC2")
[ "$code" = 401 ] && pass || fail "a revoked station's secret enrolls: HTTP $code, want 401"
unchanged "the revoked station's secret"
code=$(mint ok4 STA line1-0005 device)
expect ok4 "the revoked station mints" 403 "$code" "is revoked"
unchanged "the revoked station's mint"

# --- 3. block before enrollment ---------------------------------------------
csr nv /CN=never-1 && csr fam2 /CN=station-01 || fail "making CSRs"
code=$(api blk POST "devices/never-1/revoke" "${ADM[@]}" "${JS[@]}" -d '{}')
expect blk "revoking an id that never enrolled" 200 "$code" '"blocked"'
code=$(api blkg GET "devices/never-1" "${ADM[@]}")
got=$(jget "$T/blkg.out" '[j["status"], j["certificates"], j["family"]]')
[ "$code/$got" = "200/['blocked', 0, None]" ] && pass ||
	fail "the blocked, never enrolled id: $code $got"
snap "$T/before"
code=$(mint bm ADM never-1 device)
expect bm "minting for a blocked device" 403 "$code" \
	"device never-1 is blocked; an admin must reinstate it"
refuse "the operator issues to a blocked id" "device never-1 is blocked" \
	tessera issue --data "$D" --csr "$T/nv.csr" --profile device --out "$T/nv.pem"
unchanged "the refusals for a blocked id"
code=$(api blk2 POST "devices/never-1/revoke" "${ADM[@]}" "${JS[@]}" -d '{}')
expect blk2 "blocking it again" 409 "$code" "already revoked and blocked"

# --- 4. one family per id ---------------------------------------------------
snap "$T/before"
code=$(mint fam ADM station-01 device)
expect fam "a device secret for the station's id" 403 "$code" \
	"device id station-01 is held by profile station"
refuse "the operator issues a device certificate for the station's id" \
	"device id station-01 is held by profile station" \
	tessera issue --data "$D" --csr "$T/fam2.csr" --profile device --out "$T/fam2.pem"
unchanged "the refused cross-family enrollments"

# --- 5. manufacturers' namespaces --------------------------------------------
der() { openssl req -in "$T/$1.csr" -outform DER | base64 -w0 >"$T/$1.b64"; }
idv_enroll() { # NAME IDEVID-NAME
	"${CURL[@]}" -o "$T/$1.out" -w '%{http_code}' --cert "$T/$2.pem" \
		--key "$T/$2.key" -H 'Content-Type: application/pkcs10' \
		--data-binary @"$T/$1.b64" "$EST/simpleenroll"
}
csr sn1 /CN=sn0001 && der sn1
code=$(idv_enroll sn1 acme1)
expect sn1 "acme's IDevID enrolls sn0001" 200 "$code"
code=$(api dsn GET "devices/sn0001" "${ADM[@]}")
got=$(jget "$T/dsn.out" '[j["family"], j["authenticator"]]')
[ "$code/$got" = "200/['device', 'manufacturer:acme']" ] && pass ||
	fail "sn0001 is not bound to manufacturer:acme: $code $got"
snap "$T/before"
code=$(idv_enroll sn1 bravo1)
expect sn1 "bravo's IDevID for acme's sn0001" 403 "$code" \
	"device id sn0001 is bound to manufacturer:acme"
csr xx /CN=xx0001 && der xx
code=$(idv_enroll xx acmeout)
expect xx "acme's IDevID outside acme's pattern" 403 "$code" \
	"outside manufacturer acme's device_pattern"
unchanged "the refused IDevIDs"

# --- 6. audit actors: a device called admin ---------------------------------
code=$(mint adm ADM admin device)
expect adm "admin mints a secret for a device called admin" 201 "$code"
code=$(enroll devadm admin "$(jget "$T/adm.out" 'j["secret"]')")
[ "$code" = 200 ] && base64 -d "$T/devadm.p7" |
	openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	openssl x509 -out "$T/devadm.pem" 2>/dev/null && pass ||
	fail "the device called admin enrolls: HTTP $code"
code=$(api dfeed GET "revocations?since=0" --cert "$T/devadm.pem" --key "$T/devadm.key")
expect dfeed "the device called admin reads the feed" 200 "$code"
code=$(api dread GET "audit?since=0" --cert "$T/devadm.pem" --key "$T/devadm.key")
expect dread "the device called admin reads the audit" 403 "$code"
ADMIN_SERIAL=$(openssl x509 -in "$D/admin/admin.pem" -noout -serial | cut -d= -f2)
DEV_SERIAL=$(openssl x509 -in "$T/devadm.pem" -noout -serial | cut -d= -f2)
dev_actor="cert id=\"admin\" serial=$DEV_SERIAL profile=device role=device from=127.0.0.1"
adm_actor="cert id=\"admin\" serial=$ADMIN_SERIAL profile=admin role=admin from=127.0.0.1"
n=$(db "SELECT count(*) FROM audit WHERE actor = '${dev_actor//\'/\'\'}' AND action = 'read'")
[ "$n" = 1 ] && pass || fail "the device's read is not audited as '$dev_actor' ($n)"
# A refused read reaches the audit counted with its like, within seconds.
for _ in $(seq 1 150); do
	n=$(db "SELECT count(*) FROM audit WHERE actor = '${dev_actor//\'/\'\'}' AND action = 'refuse'")
	[ "$n" = 0 ] || break
	sleep 0.1
done
[ "$n" = 1 ] && pass || fail "the device's refusal is not audited as '$dev_actor' ($n)"
n=$(db "SELECT count(*) FROM audit WHERE actor = '${adm_actor//\'/\'\'}' AND action = 'secret-create' AND object = 'admin'")
[ "$n" = 1 ] && pass || fail "the admin's mint is not audited as '$adm_actor' ($n)"
n=$(db "SELECT count(*) FROM audit WHERE actor LIKE 'secret id=\"admin\"%' AND action = 'issue'")
[ "$n" = 1 ] && pass || fail "the secret enrollment of the device called admin: $n entries"
# No actor of the device reads like the admin's: every actor naming
# id "admin" also names its profile.
n=$(db "SELECT count(*) FROM audit WHERE actor LIKE 'cert id=\"admin\"%' AND
	actor NOT LIKE '% profile=device role=device %' AND actor NOT LIKE '% profile=admin role=admin %'")
[ "$n" = 0 ] && pass || fail "$n actors name id admin without its profile and role"

# --- the CLI -----------------------------------------------------------------
check "secret list (CLI)" tessera secret list --data "$D" --all --device line1-0004
grep -qF "line1-0004"$'\t'"device"$'\t'"cert:station-01/$STA_SERIAL"$'\t'"cancelled" "$T/last.out" && pass ||
	fail "secret list: $(cat "$T/last.out")"
S3=$(tessera secret --data "$D" --device cli-0001 2>/dev/null | tail -1)
check "secret cancel --minter operator (CLI)" tessera secret cancel --data "$D" --minter operator
grep -q "cancelled 1 secrets" "$T/last.out" && pass || fail "CLI cancel: $(cat "$T/last.out")"
code=$(enroll cli1 cli-0001 "$S3")
[ "$code" = 401 ] && pass || fail "the CLI-cancelled secret enrolls: HTTP $code"
refuse "secret cancel without a target" "either --id or --minter" \
	tessera secret cancel --data "$D"

stop_server
check "audit verify" tessera audit verify --data "$D"
finish
