#!/usr/bin/env bash
# tessera admin against a running server: every command in both output
# formats, the exit codes (2 for a refusal with the server's message, 3 for
# a CA file TLS cannot use, 1 for usage, 4 for bad rows), a CSV import
# killed (-9) after some progress and resumed (each device then has exactly
# one outstanding secret, the file has every row and mode 0600), and a bulk
# revocation resumed. TESSERA_ADMIN_IMPORT_N sets the import's size
# (default 1000; the issue's 10000 runs with TESSERA_ADMIN_IMPORT_N=10000).
. "$(dirname "$0")/lib.sh"
N=${TESSERA_ADMIN_IMPORT_N:-1000}
read -r P1 P2 < <(pick_ports 2)
D=$T/var
check "init" "$TESSERA_BIN" init --data "$D"
start_server "$D" "$P1" "$P2" 2 || { fail "server did not start"; finish; exit 1; }

# The connection from the configuration file (relative paths), flags
# and the environment are tried below.
mkdir -p "$T/home/.config/tessera"
cat >"$T/home/.config/tessera/admin.json" <<EOF
{"server": "https://localhost:$P1", "cert": "../../../var/admin/admin.pem",
 "key": "../../../var/admin/admin.key", "cacert": "$D/ca/chain.pem"}
EOF
# Relative to the file's directory: $T/home/.config/tessera/../../../var
admin() { HOME=$T/home "$TESSERA_BIN" admin "$@"; }
# rc WANT command...: the exit status must be WANT.
rc() {
	local want=$1 got
	shift
	"$@" >"$T/rc.out" 2>&1
	got=$?
	[ "$got" = "$want" ] && pass || {
		fail "$* exited $got, not $want"
		sed 's/^/    /' "$T/rc.out" >&2
	}
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# --- every command, tables and JSON ----------------------------------------
check "secrets mint (table)" admin secrets mint adm-1 --out "$T/s1"
mode_is "$T/s1" 600 && pass || fail "minted secret file is not 0600"
[ "$(wc -c <"$T/s1")" -ge 40 ] && pass || fail "no secret in $T/s1"
S2=$(admin --json secrets mint adm-2 --ttl 600 | json 'd["secret"]')
[ -n "$S2" ] && pass || fail "secrets mint --json: no secret"
# Enroll adm-1 with its secret so that it has a certificate.
csr adm-1 /CN=adm-1
code=$(openssl req -in "$T/adm-1.csr" -outform DER | base64 |
	curl -sS --cacert "$D/ca/chain.pem" -o "$T/adm-1.p7" -w '%{http_code}' \
		-u "adm-1:$(cat "$T/s1")" -H 'Content-Type: application/pkcs10' \
		--data-binary @- "https://localhost:$P1/.well-known/est/simpleenroll")
[ "$code" = 200 ] && pass || fail "enroll adm-1: $code"
admin certs list --device adm-1 >"$T/list.txt" 2>"$T/list.err"
grep -q "adm-1 .* device .* valid" "$T/list.txt" && pass || fail "certs list table: $(cat "$T/list.txt")"
SERIAL=$(admin --json certs list --device adm-1 | json 'd["certificates"][0]["serial"]')
[ -n "$SERIAL" ] && pass || fail "certs list --json: no serial"
n=$(admin --json certs list --limit 2 --all | wc -l)
[ "$n" -ge 3 ] && pass || fail "certs list --limit 2 --all: $n pages"
admin certs show "$SERIAL" | grep -q "^status *valid" && pass || fail "certs show table"
[ "$(admin --json certs show "$SERIAL" | json 'd["device"]')" = adm-1 ] && pass || fail "certs show --json"
admin certs show "$SERIAL" --pem - | openssl x509 -noout 2>/dev/null && pass || fail "certs show --pem -"
admin devices show adm-1 | grep -q "^status *active" && pass || fail "devices show table"
[ "$(admin --json devices show adm-1 | json 'd["valid"]')" = 1 ] && pass || fail "devices show --json"
admin secrets list --device adm-2 | grep -q "adm-2 .*outstanding" && pass || fail "secrets list table"
ID2=$(admin --json secrets list --device adm-2 | json 'd["secrets"][0]["id"]')
admin secrets cancel "$ID2" | grep -q "cancelled" && pass || fail "secrets cancel ID"
[ "$(admin --json secrets list --device adm-2 | json 'len(d["secrets"])')" = 0 ] && pass || fail "cancelled secret still outstanding"
check "secrets mint adm-3" admin secrets mint adm-3 --out "$T/s3"
[ "$(admin --json secrets cancel --device adm-3 | json 'd["cancelled"]')" = 1 ] && pass || fail "secrets cancel --device --json"
admin audit --limit 1000 | grep -q "secret" && pass || fail "audit table"
[ "$(admin --json audit --since 1 --limit 5 | json 'len(d["entries"])')" = 5 ] && pass || fail "audit --json"
admin token rotate | grep -q "new token-signing key" && pass || fail "token rotate"
KID=$(admin --json token rotate | json 'd["kid"]')
curl -sS "http://127.0.0.1:$P2/jwks.json" 2>/dev/null | grep -qF -e "$KID" ||
	curl -sS --cacert "$D/ca/chain.pem" "https://localhost:$P1/.well-known/jwks.json" | grep -qF -e "$KID" &&
	pass || fail "rotated kid $KID not published"
admin revoke "$SERIAL" --reason keyCompromise | grep -q "revoked $SERIAL" && pass || fail "revoke SERIAL"
admin --json revocations | json '[r["serial"] for r in d["revocations"]]' | grep -q "$SERIAL" && pass || fail "revocations --json"
admin revocations | grep -q "$SERIAL .*keyCompromise" && pass || fail "revocations table"
[ "$(admin --json revoke --device adm-2 | json 'd["status"]')" = blocked ] && pass || fail "revoke --device --json"
admin devices show adm-2 | grep -q "blocked" && pass || fail "device adm-2 not blocked"
admin devices reinstate adm-2 | grep -q "adm-2 active" && pass || fail "devices reinstate"
admin devices revoke adm-2 | grep -q "blocked" && pass || fail "devices revoke"
[ "$(admin --json devices reinstate adm-2 | json 'd["status"]')" = active ] && pass || fail "devices reinstate --json"

# audit --follow: a new entry shows up within a bounded wait.
admin --json audit --follow --interval 1 >"$T/follow.out" 2>&1 &
FPID=$!
cleanup_hooks+=("kill $FPID 2>/dev/null")
check "mint while following" admin secrets mint adm-follow --out "$T/sf"
for _ in $(seq 100); do grep -q adm-follow "$T/follow.out" && break; sleep 0.2; done
grep -q adm-follow "$T/follow.out" && pass || fail "audit --follow did not show the new entry"
kill "$FPID" 2>/dev/null; wait "$FPID" 2>/dev/null

# Flags and environment instead of the configuration file.
check "flags" "$TESSERA_BIN" admin --server "https://localhost:$P1" \
	--cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
	--cacert "$D/ca/chain.pem" devices show adm-1
check "environment" env HOME=/nonexistent TESSERA_SERVER="https://localhost:$P1" \
	TESSERA_CERT="$D/admin/admin.pem" TESSERA_KEY="$D/admin/admin.key" \
	TESSERA_CACERT="$D/ca/chain.pem" "$TESSERA_BIN" admin devices show adm-1

# --- exit codes ----------------------------------------------------------------
rc 1 admin certs list --no-such-flag
rc 1 admin frobnicate
rc 1 env HOME=/nonexistent "$TESSERA_BIN" admin devices show adm-1
# A station certificate may mint but not revoke: 2 with the server's word.
csr station /CN=adm-station
check "issue a station certificate" "$TESSERA_BIN" issue --data "$D" \
	--csr "$T/station.csr" --profile station --out "$T/station.pem"
rc 2 admin --cert "$T/station.pem" --key "$T/station.key" revoke --device adm-1
grep -q "refused (403" "$T/rc.out" && grep -qi "denied\|not allowed\|may not" "$T/rc.out" &&
	pass || fail "station revoke: $(cat "$T/rc.out")"
admin devices show adm-1 | grep -q "active" && pass || fail "the refused revoke changed adm-1"
# An auditor reads the audit log but may not revoke or mint.
check "issue an auditor certificate" "$TESSERA_BIN" issue --data "$D" \
	--profile auditor --name adm-auditor --key "$T/auditor.key" --out "$T/auditor.pem"
AU=(--cert "$T/auditor.pem" --key "$T/auditor.key")
check "auditor reads the audit" admin "${AU[@]}" audit --limit 3
rc 2 admin "${AU[@]}" revoke "$SERIAL"
grep -q "refused (403" "$T/rc.out" && pass || fail "auditor revoke: $(cat "$T/rc.out")"
rc 2 admin "${AU[@]}" secrets mint adm-9 --out "$T/s9"
[ ! -e "$T/s9" ] && pass || fail "a refused mint left a file"
rc 2 admin devices show no-such-device
grep -q "refused (404" "$T/rc.out" && pass || fail "404 not printed: $(cat "$T/rc.out")"
# A CA file that is not PEM, and one that does not sign the server: 3.
echo "not a certificate" >"$T/bad-ca.pem"
rc 3 admin --cacert "$T/bad-ca.pem" devices show adm-1
grep -q "CA file" "$T/rc.out" && pass || fail "bad CA file: $(cat "$T/rc.out")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout /dev/null -subj /CN=other -days 2 -out "$T/other-ca.pem" 2>/dev/null
rc 3 admin --cacert "$T/other-ca.pem" devices show adm-1
# An address works when the certificate names it (127.0.0.1 is in it).
check "server by address" admin --server "https://127.0.0.1:$P1" devices show adm-1
rc 3 admin --server "https://localhost:$P2" devices show adm-1
rc 1 admin --server "http://localhost:$P1" devices show adm-1
# A server whose chain verifies but whose certificate names another host:
# openssl s_server with a certificate for other.example from a CA we trust.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/fake-ca.key" -subj /CN=fake-ca -days 2 -out "$T/fake-ca.pem" 2>/dev/null
for name in other.example localhost; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$name.key" -subj "/CN=$name" 2>/dev/null |
		openssl x509 -req -CA "$T/fake-ca.pem" -CAkey "$T/fake-ca.key" \
			-days 2 -extfile <(echo "subjectAltName=DNS:$name") \
			-out "$T/$name.pem" 2>/dev/null
	read -r P3 < <(pick_ports 1)
	openssl s_server -quiet -accept "$P3" -cert "$T/$name.pem" -key "$T/$name.key" \
		-www >/dev/null 2>&1 &
	cleanup_hooks+=("kill $! 2>/dev/null")
	for _ in $(seq 100); do ss -ltnH "sport = :$P3" | grep -q . && break; sleep 0.1; done
	rc 3 admin --server "https://localhost:$P3" --cacert "$T/fake-ca.pem" devices show adm-1
	if [ "$name" = other.example ]; then
		grep -q "hostname mismatch" "$T/rc.out" && pass || fail "other.example: $(cat "$T/rc.out")"
	else
		# TLS is fine; the answer is s_server's page, not the API's JSON.
		grep -q "not a JSON object" "$T/rc.out" && pass || fail "s_server page: $(cat "$T/rc.out")"
	fi
done

# --- secrets import: killed, then resumed ---------------------------------
python3 - "$T/bad.csv" <<'EOF'
import sys
open(sys.argv[1], "w").write("device,profile,ttl\nok-1,device,600\nBad Id,device,60\n"
    "ok-2,device,-5\nok-3,device\nok-1,device,60\n")
EOF
rc 4 admin secrets import "$T/bad.csv" --out "$T/bad.out"
for l in 3 4 5 6; do grep -q "bad.csv:$l:" "$T/rc.out" && pass || fail "bad row $l not reported"; done
[ ! -e "$T/bad.out" ] && pass || fail "an output was written for a bad CSV"
[ "$(admin --json secrets list --device ok-1 | json 'len(d["secrets"])')" = 0 ] && pass || fail "a bad CSV minted"

python3 - "$T/fleet.csv" "$N" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("device,profile,ttl\n")
    for i in range(int(sys.argv[2])):
        f.write("fleet-%05d,device,%d\n" % (i, 86400 if i % 2 else 3600))
EOF
OUT=$T/fleet-secrets.csv
start=$(date +%s.%N)
HOME=$T/home "$TESSERA_BIN" admin secrets import "$T/fleet.csv" --out "$OUT" \
	2>"$T/import1.err" &
IPID=$!
# Kill it once a tenth is written (bounded wait, 120 s).
for _ in $(seq 1200); do
	[ -f "$OUT" ] && [ "$(wc -l <"$OUT")" -gt $((N / 10)) ] && break
	kill -0 "$IPID" 2>/dev/null || break
	sleep 0.1
done
kill -9 "$IPID" 2>/dev/null && pass || fail "the import ended before it could be killed"
wait "$IPID" 2>/dev/null
before=$(($(wc -l <"$OUT") - 1))
[ "$before" -gt 0 ] && [ "$before" -lt "$N" ] && pass || fail "killed with $before rows"
# A secret minted but not written at the kill, simulated on top: one
# outstanding for a device the file lacks must not survive the resume.
admin secrets mint "fleet-$(printf %05d $((N - 1)))" --out - >/dev/null 2>&1
check "resume the import" admin secrets import "$T/fleet.csv" --out "$OUT"
end=$(date +%s.%N)
grep -q "already in" "$T/last.out" && pass || fail "resume did not skip: $(cat "$T/last.out")"
grep -q ETA "$T/import1.err" && fail "progress printed when not a terminal: $(head -c 200 "$T/import1.err")" || pass
[ "$(wc -l <"$OUT")" = $((N + 1)) ] && pass || fail "output has $(wc -l <"$OUT") lines, not $((N + 1))"
mode_is "$OUT" 600 && pass || fail "output is not 0600"
[ "$(cut -d, -f1 "$OUT" | tail -n +2 | sort -u | wc -l)" = "$N" ] && pass || fail "devices repeated in the output"
# Exactly one outstanding secret per device, the one in the file.
admin --json secrets list --all --limit 1000 | python3 -c '
import json, sys, collections
c = collections.Counter()
for line in sys.stdin:
    for s in json.loads(line)["secrets"]:
        if s["device"].startswith("fleet-"):
            c[s["device"]] += 1
n = int(sys.argv[1])
bad = [d for d in c if c[d] != 1]
sys.exit(0 if len(c) == n and not bad else "%d devices, %d with more than one: %s" % (len(c), len(bad), bad[:5]))
' "$N" && pass || fail "not exactly one outstanding secret per device"
# The secrets written are the valid ones: the first and the last enroll.
for dev in fleet-00000 "fleet-$(printf %05d $((N - 1)))"; do
	sec=$(grep "^$dev," "$OUT" | cut -d, -f3)
	csr "$dev" "/CN=$dev"
	code=$(openssl req -in "$T/$dev.csr" -outform DER | base64 |
		curl -sS --cacert "$D/ca/chain.pem" -o /dev/null -w '%{http_code}' \
			-u "$dev:$sec" -H 'Content-Type: application/pkcs10' \
			--data-binary @- "https://localhost:$P1/.well-known/est/simpleenroll")
	[ "$code" = 200 ] && pass || fail "enroll $dev with its imported secret: $code"
done
echo "import of $N devices (killed at $before, resumed): $(echo "$end - $start" | bc) s"
# A third run has nothing to do.
check "import again" admin secrets import "$T/fleet.csv" --out "$OUT"
grep -q "^0 secrets minted, $N already" "$T/last.out" && pass || fail "rerun minted: $(cat "$T/last.out")"
# On a terminal (script(1) gives one) the progress line has rate and ETA.
head -21 "$T/fleet.csv" | sed 's/^fleet-/tty-/' >"$T/tty.csv"
HOME=$T/home script -qefc "$TESSERA_BIN admin secrets import $T/tty.csv --out $T/tty.out" \
	/dev/null >"$T/tty.log" 2>&1 </dev/null
grep -q "20/20 devices .*/s  ETA" "$T/tty.log" && pass || fail "no progress line on a terminal: $(head -c 300 "$T/tty.log")"
# The output must not be a file of another mode, nor another import's.
rc 4 admin secrets import "$T/tty.csv" --out "$OUT"
grep -q "another import" "$T/rc.out" && pass || fail "another import's output was taken as a journal"
printf 'device,profile,secret,expires\n' >"$T/wide.out"; chmod 644 "$T/wide.out"
rc 4 admin secrets import "$T/fleet.csv" --out "$T/wide.out"
grep -q "0600" "$T/rc.out" && pass || fail "a 0644 output was accepted"

# --- bulk revocation, resumed ----------------------------------------------
for i in 1 2 3 4 5; do echo "fleet-0000$i"; done >"$T/revoke.txt"
head -2 "$T/revoke.txt" >"$T/revoke2.txt"
check "revoke --from (first two)" admin revoke --devices --from "$T/revoke2.txt"
admin revoke --devices --from "$T/revoke.txt" >"$T/rev.out" 2>&1
grep -q "3 revoked, 2 already revoked" "$T/rev.out" && pass || fail "revoke --from resumed: $(cat "$T/rev.out")"
admin devices show fleet-00005 | grep -q blocked && pass || fail "fleet-00005 not blocked"
admin --json certs list --device fleet-00000 | json 'd["certificates"][0]["serial"]' >"$T/serials.txt"
echo "0000" >>"$T/serials.txt"
rc 2 admin revoke --from "$T/serials.txt"
grep -q "serials.txt:2" "$T/rc.out" && pass || fail "a failing line is not named: $(cat "$T/rc.out")"
echo "not-hex!" >"$T/badserials.txt"
rc 4 admin revoke --from "$T/badserials.txt"
head -1 "$T/serials.txt" >"$T/serial1.txt"
[ "$(admin --json revoke --from "$T/serial1.txt" | json 'd["already"]')" = 1 ] && pass || fail "revoke --from --json"

# No secret reached the server's logs.
for f in "$T/s1" "$T/s3"; do
	grep -qF -e "$(cat "$f")" "$T/serve.err" "$T/serve.out" && fail "a secret is in the log" || pass
done
finish
