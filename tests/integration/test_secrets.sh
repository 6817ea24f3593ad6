#!/usr/bin/env bash
# No secret leaks: after init, one-time secrets (CLI and API), enrollments
# and a server-generated key, neither the data directory (outside the PIN
# files themselves), nor the server's logs, nor the audit holds a PIN, an
# enrollment secret or the private key; key, PIN and database files are 0600.
. "$(dirname "$0")/lib.sh"
read -r P1 P2 < <(pick_ports 2)
D=$T/var
EST=https://localhost:$P1/.well-known/est
C=(--cacert "$D/ca/chain.pem" -sS)
check "init" "$TESSERA_BIN" init --data "$D"
start_server "$D" "$P1" "$P2" 2 || { fail "server did not start"; finish; exit 1; }

secrets=("$(cat "$D/hsm/user.pin")" "$(cat "$D/hsm/so.pin")")
# A secret from the CLI, used to enroll.
S1=$("$TESSERA_BIN" secret --data "$D" --device leak-1 2>>"$T/cli.err" | tail -1)
secrets+=("$S1")
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/leak-1.key" -subj /CN=leak-1 -outform DER -out "$T/leak-1.csr" 2>/dev/null
code=$(base64 "$T/leak-1.csr" | curl "${C[@]}" -o /dev/null -w '%{http_code}' \
	-u "leak-1:$S1" -H 'Content-Type: application/pkcs10' --data-binary @- \
	"$EST/simpleenroll")
[ "$code" = 200 ] && pass || fail "enroll with the CLI secret: $code"
# A wrong secret, refused: it must not be logged either.
code=$(base64 "$T/leak-1.csr" | curl "${C[@]}" -o /dev/null -w '%{http_code}' \
	-u "leak-1:guessed-secret-XYZ" -H 'Content-Type: application/pkcs10' \
	--data-binary @- "$EST/simpleenroll")
[ "$code" = 401 ] && pass || fail "wrong secret: $code"
secrets+=("guessed-secret-XYZ")
# A secret from the API (admin), used for serverkeygen.
S2=$(curl "${C[@]}" --cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
	-H 'Content-Type: application/json' -d '{"device": "leak-2"}' \
	"https://localhost:$P1/api/v1/enrollment-secrets" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
[ -n "$S2" ] && pass || fail "no secret from the API"
secrets+=("$S2")
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout /dev/null -subj /CN=leak-2 -outform DER -out "$T/leak-2.csr" 2>/dev/null
base64 "$T/leak-2.csr" | curl "${C[@]}" -o "$T/keygen.out" -u "leak-2:$S2" \
	-H 'Content-Type: application/pkcs10' --data-binary @- "$EST/serverkeygen"
# The key part's base64 lines (each long enough to be unique).
awk '/application\/pkcs8/ {k=1; next} k && /^--/ {exit} k && length($0) > 40 {print}' \
	"$T/keygen.out" | tr -d '\r' >"$T/keylines"
[ -s "$T/keylines" ] && pass || fail "no key in the serverkeygen answer"
while read -r l; do secrets+=("$l"); done <"$T/keylines"
stop_server

# Where secrets must not be: every file of the data directory but the PIN
# files, the server's and the CLI's output, and the audit as text.
sqlite3 "$D/tessera.db" "select * from audit" >"$T/audit.txt"
places=("$T/serve.err" "$T/serve.out" "$T/cli.err" "$T/audit.txt")
while IFS= read -r -d '' f; do places+=("$f"); done < <(find "$D" -type f \
	! -path "$D/hsm/user.pin" ! -path "$D/hsm/so.pin" -print0)
for s in "${secrets[@]}"; do
	[ -n "$s" ] || continue
	hits=$(grep -rlF -- "$s" "${places[@]}" 2>/dev/null || true)
	[ -z "$hits" ] && pass || fail "a secret (${s:0:6}...) is in: $hits"
done
n=${#secrets[@]}
[ "$n" -ge 6 ] && pass || fail "only $n secrets were checked"

# Modes: keys, PINs, the database and its WAL files.
for f in tls/server.key admin/admin.key hsm/user.pin hsm/so.pin tessera.db \
	tessera.json; do
	mode_is "$D/$f" 600 && pass || fail "$f is mode $(stat -c %a "$D/$f")"
done
for f in "$D"/tessera.db-wal "$D"/tessera.db-shm; do
	[ -e "$f" ] || continue
	mode_is "$f" 600 && pass || fail "$f is mode $(stat -c %a "$f")"
done
finish
