#!/usr/bin/env bash
# tessera store migrate: a SQLite store that has served (enrollments, a
# revocation, an unused secret, audit) copied into PostgreSQL (the fixture
# "pg"). Every table's rows arrive as they were (the audit hashes byte for
# byte), tessera.json names the URL, audit verify passes, and serve on
# PostgreSQL answers OCSP as before; the unused secret works once, the used
# one still does not, new secrets get new ids. Refused: while serve runs,
# a URL with a password, a store already in PostgreSQL.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pglib.sh"
pg_fresh_db t_pgmigrate_$$
pg() { PG psql "$TESSERA_PG_DIR" -d "$db" -tA -c "$1"; }
lite() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$1"; }
host=${URL#*\?}
read -r P1 P2 < <(pick_ports 2)
D=$T/var
C=(--cacert "$D/ca/chain.pem" -sS)
EST=https://localhost:$P1/.well-known/est
PUB=http://127.0.0.1:$P2

enroll() { # NAME ID SECRET: prints the HTTP code; $T/NAME.pem
	local code
	[ -s "$T/$1.b64" ] || {
		csr "$1" "/CN=$2"
		openssl req -in "$T/$1.csr" -outform DER 2>/dev/null | base64 -w0 >"$T/$1.b64"
	}
	code=$(curl "${C[@]}" -o "$T/$1.p7" -w '%{http_code}' -u "$2:$3" \
		-H 'Content-Type: application/pkcs10' --data-binary @"$T/$1.b64" \
		"$EST/simpleenroll")
	[ "$code" = 200 ] && base64 -d "$T/$1.p7" |
		openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -out "$T/$1.pem" 2>/dev/null
	echo "$code"
}
secret() { tessera secret --data "$D" --device "$1" 2>>"$T/cli.err" | tail -1; }
ocsp_status() { # NAME
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/$1.pem" \
		-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -timeout 10 2>&1 |
		sed -n "s|^$T/$1.pem: ||p"
}
# ocsp_is NAME STATUS WHAT: within 10 s (a revocation reaches OCSP at once
# through the API, a little later when done offline).
ocsp_is() {
	local n=100
	while [ "$n" -gt 0 ] && [ "$(ocsp_status "$1")" != "$2" ]; do
		sleep 0.1
		n=$((n - 1))
	done
	[ "$(ocsp_status "$1")" = "$2" ] && pass || fail "$3: OCSP is not $2"
}

# --- a SQLite store that has served ------------------------------------------
check "init (SQLite)" tessera init --data "$D"
start_server "$D" "$P1" "$P2" 2 || {
	fail "server did not start"
	finish
	exit 1
}
S1=$(secret mig-dev-1)
S2=$(secret mig-dev-2)
S3=$(secret mig-dev-3)
[ "$(enroll dev1 mig-dev-1 "$S1")" = 200 ] && pass || fail "enroll mig-dev-1"
[ "$(enroll dev2 mig-dev-2 "$S2")" = 200 ] && pass || fail "enroll mig-dev-2"
SERIAL1=$(openssl x509 -in "$T/dev1.pem" -noout -serial | cut -d= -f2)
check "revoke mig-dev-1" tessera revoke --data "$D" --serial "$SERIAL1" \
	--reason keyCompromise
ocsp_is dev1 revoked "before the migration, mig-dev-1"
ocsp_is dev2 good "before the migration, mig-dev-2"
refuse "migrate while serve runs" "stop it first" \
	tessera store migrate --data "$D" --to "$URL"
[ "$(pg "SELECT to_regclass('certificates') IS NULL")" = t ] && pass ||
	fail "a refused migration wrote into PostgreSQL"
stop_server
check "audit verify before" tessera audit verify --data "$D"

refuse "a URL with a password" "has a password in it" \
	tessera store migrate --data "$D" --to "postgresql://tessera:pw@/$db?$host"
refuse "a file as --to" "--to takes a postgresql://" \
	tessera store migrate --data "$D" --to "$T/other.db"

# --- the migration -----------------------------------------------------------
tables="certificates devices enrollment_secrets audit revocations ocsp_responses crls token_keys"
for t in $tables; do eval "before_$t=\$(lite 'SELECT count(*) FROM $t')"; done
lite "SELECT seq || ' ' || hex(prev_hash) || ' ' || hex(hash) FROM audit ORDER BY seq" \
	>"$T/audit.lite"
check "store migrate" tessera store migrate --data "$D" --to "$URL"
grep -q "^copied .* rows" "$T/last.out" && pass || fail "migrate did not say what it copied"
grep -qF "\"database\": \"$URL\"" "$D/tessera.json" && pass ||
	fail "tessera.json does not name the URL"
for t in $tables; do
	eval "want=\$before_$t"
	got=$(pg "SELECT count(*) FROM $t")
	[ "$got" = "$want" ] && [ "$want" -gt 0 ] && pass ||
		fail "$t: $got rows in PostgreSQL, $want in SQLite"
done
pg "SELECT seq || ' ' || upper(encode(prev_hash, 'hex')) || ' ' ||
	upper(encode(hash, 'hex')) FROM audit ORDER BY seq" >"$T/audit.pg"
cmp -s "$T/audit.lite" "$T/audit.pg" && pass ||
	fail "the audit chain differs after the copy"
check "audit verify after" tessera audit verify --data "$D"
refuse "migrate twice" "is in PostgreSQL already" \
	tessera store migrate --data "$D" --to "$URL"

# --- serving from PostgreSQL ---------------------------------------------------
start_server "$D" "$P1" "$P2" 2 || {
	fail "server did not start on PostgreSQL"
	finish
	exit 1
}
ocsp_is dev1 revoked "after the migration, mig-dev-1"
ocsp_is dev2 good "after the migration, mig-dev-2"
[ "$(enroll dev1b mig-dev-1 "$S1")" = 401 ] && pass ||
	fail "a secret used before the migration works again"
[ "$(enroll dev3 mig-dev-3 "$S3")" = 200 ] && pass ||
	fail "the unused secret does not work after the migration"
[ "$(enroll dev3 mig-dev-3 "$S3")" = 401 ] && pass ||
	fail "the unused secret works twice"
S4=$(secret mig-dev-4)
[ -n "$S4" ] && [ "$(enroll dev4 mig-dev-4 "$S4")" = 200 ] && pass ||
	fail "a secret minted after the migration"
[ "$(pg "SELECT count(DISTINCT id) = count(*) FROM enrollment_secrets")" = t ] &&
	pass || fail "secret ids repeat after the migration"
[ "$(pg "SELECT count(*) FROM certificates")" -gt "$before_certificates" ] &&
	pass || fail "no new certificate in PostgreSQL"
stop_server
check "audit verify at the end" tessera audit verify --data "$D"
finish
