#!/usr/bin/env bash
# A certificate's life after its first issuance, end to end: renewal
# supersedes the renewed certificate (revoked as superseded once the
# policy's overlap ends, refused for renewal and tokens at once), a station
# re-enrolls a device id only where the profile allows reprovisioning,
# serverkeygen keys are of the CSR's family and bounded in size, one secret
# makes at most one key, and /healthz and OCSP keep answering while RSA
# keys are made.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }
ncerts() { db 'SELECT count(*) FROM certificates'; }

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
EST=https://localhost:$P1/.well-known/est
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 60 --cacert "$D/ca/chain.pem")
CT=(-H 'Content-Type: application/pkcs10')
OVERLAP=3

check "init" tessera init --data "$D" --name "Lifecycle Test"
# A short overlap; "kiosk" is device with reprovisioning allowed; "rsa4k"
# makes RSA-4096 keys for serverkeygen.
python3 - "$D/policy.json" "$OVERLAP" <<'EOF'
import copy, json, sys
p, overlap = sys.argv[1], int(sys.argv[2])
j = json.load(open(p))
dev = j["profiles"]["device"]
dev["renewal"]["supersede_after_seconds"] = overlap
kiosk = copy.deepcopy(dev)
kiosk["reprovision"] = True
j["profiles"]["kiosk"] = kiosk
rsa = copy.deepcopy(dev)
rsa["keys"] = ["rsa:4096"]
j["profiles"]["rsa4k"] = rsa
j["authenticators"]["secret"]["profiles"] += ["rsa4k"]
j["roles"]["station"]["enroll_profiles"] += ["kiosk"]
json.dump(j, open(p, "w"), indent=2)
EOF

if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass

# b64 NAME: $T/NAME.b64 from $T/NAME.csr.
b64() { openssl req -in "$T/$1.csr" -outform DER | base64 -w0 >"$T/$1.b64"; }
mint() {
	tessera secret --data "$D" --device "$1" ${2:+--profile "$2"} \
		2>>"$T/secret.err" | tail -1
}
# post URL BODYFILE NAME [curl args...]: status code; body in $T/NAME.out.
post() {
	local url=$1 body=$2 name=$3
	shift 3
	"${CURL[@]}" -o "$T/$name.out" -w '%{http_code}' "$@" \
		--data-binary @"$body" "$url"
}
# cert_of NAME: the certificate of certs-only $T/NAME.out into $T/NAME.pem.
cert_of() {
	base64 -d "$T/$1.out" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -out "$T/$1.pem" 2>/dev/null
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
expect() {
	case "$4" in
	$3) pass ;;
	*)
		fail "$2: HTTP $4, want $3"
		head -c 400 "$T/$1.out" 2>/dev/null | sed 's/^/    /' >&2
		echo >&2
		;;
	esac
}
says() { grep -qiF -- "$3" "$T/$1.out" && pass || fail "$2: body lacks '$3'"; }
token() {
	"${CURL[@]}" -o "$T/$3.out" -w '%{http_code}' --cert "$1" --key "$2" \
		-d grant_type=client_credentials "https://localhost:$P1/token"
}
ocsp_status() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$1" -url "$PUB/ocsp" \
		-CAfile "$D/ca/chain.pem" -no_nonce 2>/dev/null
}
# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
	local n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

# --- renewal supersedes ----------------------------------------------------
csr a /CN=dev-a -addext "subjectAltName=URI:urn:dev:dev-a" && b64 a
S=$(mint dev-a)
code=$(post "$EST/simpleenroll" "$T/a.b64" a "${CT[@]}" -u "dev-a:$S")
expect a "enroll dev-a" 200 "$code"
cert_of a
SA=$(serial_of "$T/a.pem")
code=$(token "$T/a.pem" "$T/a.key" tok-a)
expect tok-a "a token with the first certificate" 200 "$code"

csr b /CN=dev-a -addext "subjectAltName=URI:urn:dev:dev-a" && b64 b
code=$(post "$EST/simplereenroll" "$T/b.b64" b "${CT[@]}" \
	--cert "$T/a.pem" --key "$T/a.key")
expect b "renew dev-a" 200 "$code"
cert_of b
SB=$(serial_of "$T/b.pem")
read -r created at < <(db -separator ' ' "SELECT (SELECT created FROM certificates WHERE serial = '$SB'), supersede_at FROM certificates WHERE serial = '$SA'")
[ -n "$at" ] && [ "$at" = $((created + OVERLAP)) ] && pass ||
	fail "the renewed certificate is not scheduled for created+$OVERLAP ($created, '$at')"
n=$(db "SELECT count(*) FROM audit WHERE action = 'issue' AND object = '$SB' AND instr(detail, 'supersedes=$SA') > 0")
[ "$n" = 1 ] && pass || fail "the renewal's audit entry does not name the certificate it supersedes"

# At once, before the overlap ends: no second renewal, no token.
before=$(ncerts)
code=$(post "$EST/simplereenroll" "$T/b.b64" again "${CT[@]}" \
	--cert "$T/a.pem" --key "$T/a.key")
expect again "a second renewal with the superseded certificate" 403 "$code"
says again "a second renewal with the superseded certificate" "superseded"
[ "$(ncerts)" = "$before" ] && pass || fail "the refused renewal changed the store"
code=$(token "$T/a.pem" "$T/a.key" tok-a2)
expect tok-a2 "a token with the superseded certificate" '40[01]' "$code"
says tok-a2 "a token with the superseded certificate" "superseded"
code=$(token "$T/b.pem" "$T/b.key" tok-b)
expect tok-b "a token with the new certificate" 200 "$code"

# Once the overlap has ended: revoked, reason superseded, on OCSP and CRL.
superseded_on_ocsp() { ocsp_status "$T/a.pem" | grep -q 'Reason: superseded'; }
if wait_for 60 superseded_on_ocsp; then pass; else
	fail "OCSP does not say superseded within 60 s"
	ocsp_status "$T/a.pem" | sed 's/^/    /' >&2
fi
row=$(db "SELECT status, reason, revoked_at FROM certificates WHERE serial = '$SA'")
[ "$row" = "revoked|4|$at" ] && pass ||
	fail "the superseded row is '$row', want revoked|4|$at"
on_crl() {
	curl -sf "$PUB/crl/issuing.crl" | openssl crl -inform DER -noout -text |
		grep -A5 "Serial Number: $SA" | grep -q Superseded
}
wait_for 30 on_crl && pass || fail "the CRL does not list $SA as superseded within 30 s"
ocsp_status "$T/b.pem" | grep -q ': good' && pass || fail "the new certificate is not good on OCSP"
n=$(db "SELECT count(*) FROM audit WHERE action = 'revoke' AND object = '$SA' AND actor = 'tessera' AND instr(detail, 'reason=superseded') > 0")
[ "$n" = 1 ] && pass || fail "no audit entry for the supersession of $SA"
code=$(post "$EST/simplereenroll" "$T/b.b64" late "${CT[@]}" \
	--cert "$T/a.pem" --key "$T/a.key")
expect late "renewal with the revoked superseded certificate" 403 "$code"
code=$(token "$T/a.pem" "$T/a.key" tok-a3)
expect tok-a3 "a token with the revoked superseded certificate" '40[01]' "$code"
# The successor renews in turn.
csr c /CN=dev-a -addext "subjectAltName=URI:urn:dev:dev-a" && b64 c
code=$(post "$EST/simplereenroll" "$T/c.b64" c "${CT[@]}" \
	--cert "$T/b.pem" --key "$T/b.key")
expect c "renew the successor" 200 "$code"
cert_of c

# --- a station re-enrolling an id that holds a valid certificate -----------
csr station /CN=station-1
check "issue the station certificate" tessera issue --data "$D" \
	--csr "$T/station.csr" --profile station --out "$T/station.pem"
ST=(--cert "$T/station.pem" --key "$T/station.key")
csr s1 /CN=st-dev-1 && b64 s1
code=$(post "$EST/simpleenroll" "$T/s1.b64" s1 "${CT[@]}" "${ST[@]}")
expect s1 "station enrolls st-dev-1" 200 "$code"
before=$(ncerts)
csr s2 /CN=st-dev-1 && b64 s2
code=$(post "$EST/simpleenroll" "$T/s2.b64" s2 "${CT[@]}" "${ST[@]}")
expect s2 "station enrolls st-dev-1 again (device profile)" 409 "$code"
says s2 "station enrolls st-dev-1 again" "reprovision"
[ "$(ncerts)" = "$before" ] && pass || fail "the refused re-enrollment changed the store"

csr k1 /CN=kiosk-1 && b64 k1
code=$(post "$EST/kiosk/simpleenroll" "$T/k1.b64" k1 "${CT[@]}" "${ST[@]}")
expect k1 "station enrolls kiosk-1" 200 "$code"
cert_of k1
SK1=$(serial_of "$T/k1.pem")
csr k2 /CN=kiosk-1 && b64 k2
code=$(post "$EST/kiosk/simpleenroll" "$T/k2.b64" k2 "${CT[@]}" "${ST[@]}")
expect k2 "station enrolls kiosk-1 again (kiosk: reprovision true)" 200 "$code"
cert_of k2
SK2=$(serial_of "$T/k2.pem")
n=$(db "SELECT count(*) FROM audit WHERE action = 'issue' AND object = '$SK2' AND detail LIKE 'reprovision %'")
[ "$n" = 1 ] && pass || fail "the re-enrollment is not audited as reprovision"
n=$(db "SELECT count(*) FROM certificates WHERE serial = '$SK1' AND supersede_at IS NOT NULL")
[ "$n" = 1 ] && pass || fail "reprovisioning did not supersede the earlier certificate"

# --- serverkeygen ----------------------------------------------------------
# A key rule above rsa_max_bits stops the policy from loading.
cp "$D/policy.json" "$T/policy.good"
python3 - "$D/policy.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["profiles"]["device"]["keys"] = ["ec:P-256", "rsa:8192"]
json.dump(j, open(sys.argv[1], "w"), indent=2)
EOF
refuse "a policy with rsa:8192" "is above the profile's rsa_max_bits 4096" \
	tessera secret --data "$D" --device dev-x
cp "$T/policy.good" "$D/policy.json"

# An RSA CSR gets an RSA key back (the profile's smallest RSA size).
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/kr.key" -subj /CN=dev-kr \
	-out "$T/kr.csr" 2>/dev/null && b64 kr
S=$(mint dev-kr)
code=$("${CURL[@]}" -o "$T/kr.out" -D "$T/kr.hdr" -w '%{http_code}' "${CT[@]}" \
	-u "dev-kr:$S" --data-binary @"$T/kr.b64" "$EST/serverkeygen")
expect kr "serverkeygen with an RSA CSR" 200 "$code"
# The PKCS#8 part: the base64 after application/pkcs8's headers.
python3 - "$T/kr.out" "$T/kr.p8" <<'EOF'
import base64, re, sys
body = open(sys.argv[1], "rb").read().decode()
part = body.split("application/pkcs8", 1)[1].split("\r\n\r\n", 1)[1]
b64 = part.split("\r\n--", 1)[0]
open(sys.argv[2], "wb").write(base64.b64decode(re.sub(r"\s", "", b64)))
EOF
openssl pkey -inform DER -in "$T/kr.p8" -noout -text 2>/dev/null |
	grep -q 'Private-Key: (3072 bit' && pass ||
	fail "serverkeygen with an RSA CSR did not return an RSA-3072 key"

# Two requests with one secret at once: exactly one key, one certificate.
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/race.key" \
	-subj /CN=dev-race -out "$T/race.csr" 2>/dev/null && b64 race
S=$(mint dev-race rsa4k)
before=$(ncerts)
for i in 1 2; do
	"${CURL[@]}" -o "$T/race$i.out" -w '%{http_code}\n' "${CT[@]}" \
		-u "dev-race:$S" --data-binary @"$T/race.b64" \
		"$EST/rsa4k/serverkeygen" >"$T/race$i.code" &
	race+=($!)
done
wait "${race[@]}"
codes=$(cat "$T/race1.code" "$T/race2.code" | sort | tr '\n' ' ')
[ "$codes" = "200 401 " ] && pass ||
	fail "two serverkeygens with one secret answered '$codes', want one 200 and one 401"
[ "$(ncerts)" = $((before + 1)) ] && pass ||
	fail "two serverkeygens with one secret stored $(($(ncerts) - before)) certificates"
n=$(db "SELECT count(*) FROM audit WHERE action = 'secret-reserve' AND object = 'dev-race'")
[ "$n" = 1 ] && pass || fail "the secret was reserved $n times, want 1"

# /healthz and OCSP keep answering while RSA-4096 keys are made: each
# probe during the batch must take less than a quarter of the fastest
# serverkeygen (a probe that waited for a key would take about as long).
# Two, one per worker: a worker's TLS listener answers one request at a
# time, so more would queue behind each other (and a loaded machine can
# push a queued one past the 30 s request limit).
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/b.pem" -no_nonce \
	-reqout "$T/ocsp.req" >/dev/null 2>&1
probe() {
	curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}\n' "$@"
}
BATCH=2
for i in $(seq 1 $BATCH); do
	id=dev-batch-$i
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout /dev/null -subj "/CN=$id" -out "$T/$id.csr" 2>/dev/null &&
		b64 "$id"
	mint "$id" rsa4k >"$T/$id.secret"
done
for i in $(seq 1 $BATCH); do
	id=dev-batch-$i
	"${CURL[@]}" -o "$T/$id.out" -w '%{http_code} %{time_total}\n' "${CT[@]}" \
		-u "$id:$(cat "$T/$id.secret")" --data-binary @"$T/$id.b64" \
		"$EST/rsa4k/serverkeygen" >"$T/$id.code" &
	pids+=($!)
done
: >"$T/probes"
running() {
	local p
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}
while running; do
	probe "$PUB/healthz" >>"$T/probes"
	probe -H 'Content-Type: application/ocsp-request' \
		--data-binary @"$T/ocsp.req" "$PUB/ocsp" >>"$T/probes"
done
wait "${pids[@]}"
kg_ok=$(cat "$T"/dev-batch-*.code | awk '$1 == 200' | wc -l)
[ "$kg_ok" = "$BATCH" ] && pass || fail "$kg_ok of $BATCH RSA-4096 serverkeygens answered 200"
kg_min=$(cat "$T"/dev-batch-*.code | awk 'NR == 1 || $2 < m { m = $2 } END { print m }')
nprobe=$(wc -l <"$T/probes")
bad=$(awk '$1 != 200' "$T/probes" | wc -l)
probe_max=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$T/probes")
echo "serverkeygen RSA-4096 x$BATCH: fastest ${kg_min}s; $nprobe probes during it, slowest ${probe_max}s"
[ "$nprobe" -ge 2 ] && pass || fail "only $nprobe probes ran during the keygen batch"
[ "$bad" = 0 ] && pass || fail "$bad probes during the keygen batch were not 200"
awk -v p="$probe_max" -v k="$kg_min" 'BEGIN { exit !(p < k / 4) }' && pass ||
	fail "a probe took ${probe_max}s during keygens that took ${kg_min}s or more"

check "audit verify" tessera audit verify --data "$D"

# --- the role comes from the certificate; tampering is found -------------
SC=$(serial_of "$T/c.pem")
# The device profile's policy OID: tessera's arc, then "device" byte by byte.
openssl x509 -in "$T/c.pem" -noout -text | grep -A1 'Certificate Policies' |
	grep -qF "Policy: 1.3.6.1.4.1.32473.1.1.100.101.118.105.99.101" &&
	pass || fail "the device certificate lacks the device profile's policy OID"
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")
api() {
	"${CURL[@]}" -o "$T/$1.out" -w '%{http_code}' "${@:2}"
}
code=$(api blk "${ADM[@]}" -H 'Content-Type: application/json' \
	-d '{"reason": "keyCompromise"}' \
	"https://localhost:$P1/api/v1/devices/st-dev-1/revoke")
expect blk "admin revokes st-dev-1" 200 "$code"
code=$(api adm-before --cert "$T/c.pem" --key "$T/c.key" \
	"https://localhost:$P1/api/v1/audit?since=0&limit=1")
expect adm-before "the device reads the audit" 403 "$code"
SECRET_ID=$(db "SELECT id FROM enrollment_secrets WHERE device_id = 'dev-a'")
# Behind tessera's back: a revocation undone, a block lifted, a secret
# reset, a certificate's profile raised to admin.
db "UPDATE certificates SET status = 'valid', revoked_at = NULL, reason = NULL,
	supersede_at = NULL WHERE serial = '$SA';
UPDATE devices SET status = 'active' WHERE id = 'st-dev-1';
UPDATE enrollment_secrets SET consumed_at = NULL, consumed_serial = NULL
	WHERE id = $SECRET_ID;
UPDATE certificates SET profile = 'admin' WHERE serial = '$SC';"
tessera audit verify --data "$D" >"$T/verify.out" 2>&1
rc=$?
[ "$rc" != 0 ] && pass || fail "audit verify passed a tampered store"
for what in "certificate $SA: revoked at audit entry" \
	'device "st-dev-1": blocked at audit entry' \
	"enrollment secret $SECRET_ID (device \"dev-a\"): used at audit entry" \
	"certificate $SC: issued as profile device" 'the store says "admin"' \
	"4 rows in the store disagree"; do
	grep -qF -- "$what" "$T/verify.out" && pass ||
		fail "audit verify does not say '$what'"
done
[ "$rc" != 0 ] || sed 's/^/    /' "$T/verify.out" >&2
# The admin profile column raises nothing: the certificate says device.
code=$(api adm-after --cert "$T/c.pem" --key "$T/c.key" \
	"https://localhost:$P1/api/v1/audit?since=0&limit=1")
expect adm-after "the device with an admin profile column reads the audit" 403 "$code"
says adm-after "the device with an admin profile column" "store says otherwise"
code=$(api rev-after --cert "$T/c.pem" --key "$T/c.key" \
	-H 'Content-Type: application/json' -d '{"reason": "keyCompromise"}' \
	"https://localhost:$P1/api/v1/devices/dev-x/revoke")
expect rev-after "the device with an admin profile column revokes" 403 "$code"
grep -q "changed outside tessera" "$T/serve.err" && pass ||
	fail "the server did not log the disagreeing profile"
finish
