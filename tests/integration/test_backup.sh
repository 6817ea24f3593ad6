#!/usr/bin/env bash
# Backup and restore. `tessera backup` runs while a background loop enrolls
# devices (a bounded number, one-time secrets minted through the API, EST
# over TLS), to a file and to standard output. The archive is mode 0600,
# holds the format mark, the store, tessera.json, the policy, the CA
# certificates, the TLS material and the audit public key, and neither the
# token nor a PIN (by name and by content). Its store is one snapshot:
# SQLite's integrity check passes and every certificate in it is in the
# live store with the same DER. `tessera restore` refuses an existing data
# directory and a damaged archive (then writing nothing), and makes a new
# one; the token is copied as the README says; the restored store is made
# to look one schema older, so that the restored `serve` must migrate it
# and keep a copy first. Then `audit verify` passes on the restored
# directory and OCSP for good and revoked certificates answers the same
# from the restored server as from the original.
. "$(dirname "$0")/lib.sh"
D1=$T/var
D2=$T/restored
tessera() { "$TESSERA_BIN" "$@"; }
LOAD=${TESSERA_BACKUP_LOAD:-40}

ports=$(pick_ports 4) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 P3 P4 <<<"$ports"
CURL=(curl -sS --connect-timeout 3 --max-time 30)
ADM=(--cert "$D1/admin/admin.pem" --key "$D1/admin/admin.key")

check "init" tessera init --data "$D1" --name "Backup Test" \
	--publish-url "http://127.0.0.1:$P2"
if ! start_server "$D1" "$P1" "$P2" 2; then
	fail "server did not come up"
	finish
	exit
fi
pass

# enroll ID: mint a secret through the API, enroll over EST; the PEM
# certificate in $T/ID.pem.
enroll() {
	local id=$1 secret
	secret=$("${CURL[@]}" --cacert "$D1/ca/chain.pem" "${ADM[@]}" \
		-H 'Content-Type: application/json' \
		-d "{\"device\": \"$id\", \"ttl\": 3600}" \
		"https://localhost:$P1/api/v1/enrollment-secrets" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])') ||
		return 1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$id.key" -subj "/CN=$id" -outform DER \
		-out "$T/$id.csr" 2>/dev/null || return 1
	base64 "$T/$id.csr" | "${CURL[@]}" --fail-with-body \
		--cacert "$D1/ca/chain.pem" -u "$id:$secret" \
		-H 'Content-Type: application/pkcs10' --data-binary @- \
		"https://localhost:$P1/.well-known/est/simpleenroll" |
		base64 -d | openssl pkcs7 -inform DER -print_certs \
		-out "$T/$id.pem" 2>/dev/null && [ -s "$T/$id.pem" ]
}
serial_of() { openssl x509 -in "$T/$1.pem" -noout -serial | cut -d= -f2; }

# Four devices before the backup; two of them revoked.
for id in keep-1 keep-2 gone-1 gone-2; do
	check "enroll $id" enroll "$id"
done
check "revoke gone-1 (keyCompromise)" tessera revoke --data "$D1" \
	--serial "$(serial_of gone-1)" --reason keyCompromise
check "revoke gone-2 (superseded)" tessera revoke --data "$D1" \
	--serial "$(serial_of gone-2)" --reason superseded

# The load: LOAD enrollments one after another in the background.
(
	ok=0
	for i in $(seq 1 "$LOAD"); do
		enroll "load-$i" && ok=$((ok + 1))
	done
	echo "$ok" >"$T/load.done"
) 2>"$T/load.err" &
LOAD_PID=$!
cleanup_hooks+=("kill $LOAD_PID 2>/dev/null")
# Back up once the loop is under way, twice: to a file and to stdout.
n=300
while [ "$n" -gt 0 ] && [ ! -s "$T/load-3.pem" ]; do
	sleep 0.1
	n=$((n - 1))
done
[ -s "$T/load-3.pem" ] && pass || fail "the load did not start enrolling"
umask 022
check "backup to a file under load" tessera backup --data "$D1" \
	--to "$T/backup.tar"
cp "$T/last.out" "$T/backup.msg"
if tessera backup --data "$D1" --to - >"$T/stdout.tar" 2>"$T/stdout.msg" &&
	tar -tf "$T/stdout.tar" | grep -qx tessera.db; then pass; else
	fail "backup to standard output"
	sed 's/^/    /' "$T/stdout.msg" >&2
fi
still=$([ -f "$T/load.done" ] && echo no || echo yes)
wait "$LOAD_PID"
[ "$(cat "$T/load.done" 2>/dev/null)" = "$LOAD" ] && pass ||
	fail "the load enrolled $(cat "$T/load.done" 2>/dev/null) of $LOAD"
[ "$still" = yes ] && pass || fail "the load ended before the backup did"

refuse "backup into the data directory" "inside the data directory" \
	tessera backup --data "$D1" --to "$D1/crl/../self.tar"
check "and nothing was left there" test ! -e "$D1/self.tar"

# The archive: mode 0600, what it holds, never a PIN or the token.
check "archive is mode 0600 (umask 022)" mode_is "$T/backup.tar" 600
tar -tf "$T/backup.tar" >"$T/list" 2>&1
check "tar reads the archive" test -s "$T/list"
for f in tessera-backup tessera.db tessera.json policy.json ca/root.pem \
	ca/issuing.pem ca/chain.pem ca/ocsp.pem ca/audit.pub.pem \
	tls/server.pem tls/server.key admin/admin.pem; do
	grep -qx "$f" "$T/list" && pass || fail "archive lacks $f"
done
[ "$(head -1 "$T/list")" = tessera-backup ] && pass ||
	fail "the first entry is not tessera-backup"
if grep -E '(^|/)(hsm/|.*\.pin$|serve\.lock|tessera\.db-)' "$T/list"; then
	fail "the archive holds the token, a PIN or a live store file"
else pass; fi
for pin in "$D1/hsm/user.pin" "$D1/hsm/so.pin"; do
	if grep -qaF -e "$(cat "$pin")" "$T/backup.tar" "$T/stdout.tar"; then
		fail "an archive holds the PIN of $pin"
	else pass; fi
done
grep -q 'hsm/tokens/' "$T/backup.msg" && grep -q 'user.pin' "$T/backup.msg" &&
	pass || fail "backup does not say how to back up the token"

# The store in the archive is a consistent snapshot of the live one.
mkdir "$T/x"
tar -C "$T/x" -xf "$T/backup.tar" tessera.db
check "snapshot integrity_check" test "$(sqlite3 "$T/x/tessera.db" \
	'PRAGMA integrity_check')" = ok
sqlite3 "$T/x/tessera.db" "SELECT serial, hex(der) FROM certificates" |
	sort >"$T/snap.rows"
sqlite3 -cmd '.timeout 5000' "$D1/tessera.db" \
	"SELECT serial, hex(der) FROM certificates" | sort >"$T/live.rows"
missing=$(comm -23 "$T/snap.rows" "$T/live.rows" | wc -l)
[ "$missing" = 0 ] && [ -s "$T/snap.rows" ] && pass ||
	fail "$missing certificates of the snapshot are not in the live store"

# Restore: refusals first.
mkdir -p "$T/busy" && touch "$T/busy/x"
refuse "restore into a non-empty directory" "is not empty" \
	tessera restore --from "$T/backup.tar" --data "$T/busy"
head -c 20000 "$T/backup.tar" >"$T/cut.tar"
refuse "restore of a truncated archive" "ends inside" \
	tessera restore --from "$T/cut.tar" --data "$T/never"
check "a refused archive wrote nothing" test ! -e "$T/never"
refuse "restore of a tar that is not a backup" "not a tessera backup" \
	bash -c "cd '$T' && tar -cf other.tar list && '$TESSERA_BIN' restore \
		--from other.tar --data '$T/never2'"
check "restore" tessera restore --from "$T/backup.tar" --data "$D2"
grep -q "$D2/hsm/tokens" "$T/last.out" && pass ||
	fail "restore does not say where the token goes"
check "restored store is mode 0600" mode_is "$D2/tessera.db" 600
check "restored TLS key is mode 0600" mode_is "$D2/tls/server.key" 600
# The token, as the README says: its files and PINs, with tar.
check "copy the token" bash -c "tar -C '$D1' -cf '$T/hsm.tar' hsm/tokens \
	hsm/user.pin hsm/so.pin && tar -C '$D2' -xf '$T/hsm.tar'"

# One schema older: serve must keep a copy before migrating. The step
# back undoes the newest migration (v7 -> v8: the certificates' profile
# index); for a newer schema the test says so and leaves the mechanism to
# unit.test_store, which builds every older version from scratch.
NOW=$(sqlite3 "$D2/tessera.db" 'SELECT version FROM schema_version')
OLD=$((NOW - 1))
case $NOW in
8) check "make the restored store schema 7" sqlite3 "$D2/tessera.db" \
	"DROP INDEX certificates_profile;
	 UPDATE schema_version SET version = 7;" ;;
*) echo "note: no step back known from schema v$NOW; the copy before" \
	"migrating is checked by unit.test_store only" >&2 ;;
esac
if ! start_server "$D2" "$P3" "$P4" 2; then
	fail "the restored server did not come up"
	finish
	exit
fi
pass
if [ "$NOW" = 8 ]; then
	kept=$(ls "$D2"/tessera.db.schema-v$OLD-*.bak 2>/dev/null | head -1)
	check "serve kept the store before migrating" test -n "$kept"
	if [ -n "$kept" ]; then
		check "the kept copy is mode 0600" mode_is "$kept" 600
		check "the kept copy is schema $OLD" test "$(sqlite3 "$kept" \
			'SELECT version FROM schema_version')" = "$OLD"
		grep -q "kept a copy of the store" "$T/serve.err" && pass ||
			fail "serve does not log the copy it kept"
	fi
	check "one copy, whatever the number of workers" test \
		"$(ls "$D2"/tessera.db.schema-v*.bak | wc -l)" = 1
fi
check "the restored store is migrated to $NOW" test "$(sqlite3 \
	-cmd '.timeout 5000' "$D2/tessera.db" \
	'SELECT version FROM schema_version')" = "$NOW"

check "audit verify on the restored directory" tessera audit verify \
	--data "$D2"

# OCSP: the same answer from both servers, for good and revoked ones.
ocsp() {
	openssl ocsp -issuer "$D1/ca/issuing.pem" -cert "$T/$1.pem" \
		-url "http://127.0.0.1:$2/ocsp" -CAfile "$D1/ca/chain.pem" \
		2>&1 | grep -E "^$T/$1.pem: |Reason:|Revocation Time:|Response verify OK"
}
for id in keep-1 keep-2 gone-1 gone-2 load-1 load-2; do
	a=$(ocsp "$id" "$P2")
	b=$(ocsp "$id" "$P4")
	if [ -n "$a" ] && [ "$a" = "$b" ] &&
		echo "$a" | grep -q "Response verify OK"; then pass; else
		fail "OCSP for $id: original '$a', restored '$b'"
	fi
done
ocsp gone-1 "$P4" | grep -q "revoked" && ocsp gone-1 "$P4" |
	grep -q keyCompromise && pass || fail "gone-1 is not revoked (keyCompromise)"
ocsp keep-1 "$P4" | grep -q ": good" && pass || fail "keep-1 is not good"

finish
