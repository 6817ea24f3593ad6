#!/usr/bin/env bash
# The store in PostgreSQL (the fixture "pg", tests/integration/pg.sh):
# tessera init --store URL, then serve: enroll, a one-time secret used
# twice, a token, revoke, OCSP answers revoked, audit verify. The faults,
# each one clear line: a password in the URL, a password file others may
# read, a wrong password, a role without grants, a TLS-required server
# reached without TLS, a database that already holds a CA, PostgreSQL
# unreachable at start (non-zero exit), a store schema newer than the
# binary; and PostgreSQL gone while serving: writes answer 503 with the
# reason, then succeed again by themselves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pglib.sh"
pg_fresh_db t_pgstore_$$
sql() { PG psql "$TESSERA_PG_DIR" -d "$db" -tA -c "$1"; }
host=${URL#*\?}
read -r P1 P2 < <(pick_ports 2)
D=$T/var
C=(--cacert "$D/ca/chain.pem" -sS)
EST=https://localhost:$P1/.well-known/est
PUB=http://127.0.0.1:$P2

# --- init's refusals, each before anything is made --------------------------
refuse "a password in the URL" "has a password in it" \
	tessera init --data "$T/r1" --store "postgresql://tessera:pw@/$db?$host"
[ ! -e "$T/r1" ] && pass || fail "refused init left $T/r1"
refuse "a file path as --store" "--store takes a postgresql://" \
	tessera init --data "$T/r2" --store "$T/store.db"
printf '*:*:*:tessera_pw:tessera-test-pw\n' >"$T/pgpass"
chmod 644 "$T/pgpass"
refuse "a password file of mode 0644" "must be 0600" \
	tessera init --data "$T/r3" \
	--store "postgresql://tessera_pw@/$db?$host&passfile=$T/pgpass"
printf '*:*:*:tessera_pw:not-the-password\n' >"$T/pgpass"
chmod 600 "$T/pgpass"
refuse "a wrong password" "password authentication failed" \
	tessera init --data "$T/r4" \
	--store "postgresql://tessera_pw@/$db?$host&passfile=$T/pgpass"
refuse "a role without grants" "the role lacks a grant tessera needs" \
	tessera init --data "$T/r5" --store "postgresql://tessera_nogrants@/$db?$host"
TCP=$(PG tcp "$TESSERA_PG_DIR")
refuse "a TLS-required server without TLS" "no encryption" \
	tessera init --data "$T/r6" \
	--store "postgresql://tessera@127.0.0.1:$TCP/$db?sslmode=disable"
for r in r3 r4 r5 r6; do
	[ ! -e "$T/$r" ] && pass || fail "refused init ($r) left $T/$r"
done
# One line each: the reason, not a page of libpq's text.
refuse "no such database" "cannot connect to PostgreSQL" \
	tessera init --data "$T/r7" --store "postgresql://tessera@/no_such_db_$$?$host"
[ "$(grep -c 'tessera init' "$T/last.out")" = 1 ] && pass ||
	fail "the connection failure is not one line"

# --- init and serve -------------------------------------------------------
check "init --store" tessera init --data "$D" --store "$URL"
grep -qF "\"database\": \"$URL\"" "$D/tessera.json" && pass ||
	fail "tessera.json does not name the store's URL"
[ ! -e "$D/tessera.db" ] && pass || fail "a SQLite file next to the PostgreSQL store"
[ "$(sql 'SELECT version FROM schema_version')" = 8 ] && pass ||
	fail "schema version in PostgreSQL"
refuse "init on a database that holds a CA" "init needs an empty database" \
	tessera init --data "$T/r8" --store "$URL"
start_server "$D" "$P1" "$P2" 2 || {
	fail "server did not start"
	finish
	exit 1
}

csr dev1 /CN=pg-dev-1
openssl req -in "$T/dev1.csr" -outform DER 2>/dev/null | base64 -w0 >"$T/dev1.b64"
S1=$(tessera secret --data "$D" --device pg-dev-1 2>>"$T/cli.err" | tail -1)
enroll() { # NAME SECRET: prints the HTTP code; the certificate in $T/NAME.pem
	local code
	code=$(curl "${C[@]}" -o "$T/$1.p7" -w '%{http_code}' -u "pg-dev-1:$2" \
		-H 'Content-Type: application/pkcs10' --data-binary @"$T/$1.b64" \
		"$EST/simpleenroll")
	[ "$code" = 200 ] && base64 -d "$T/$1.p7" |
		openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -out "$T/$1.pem" 2>/dev/null
	echo "$code"
}
[ "$(enroll dev1 "$S1")" = 200 ] && [ -s "$T/dev1.pem" ] && pass ||
	fail "enroll with a secret"
[ "$(enroll dev1 "$S1")" = 401 ] && pass || fail "the secret worked twice"
SERIAL=$(openssl x509 -in "$T/dev1.pem" -noout -serial | cut -d= -f2)
[ "$(sql "SELECT count(*) FROM certificates WHERE serial = '$SERIAL'")" = 1 ] &&
	pass || fail "the certificate is not in PostgreSQL"
code=$(curl "${C[@]}" -o "$T/token.out" -w '%{http_code}' \
	--cert "$T/dev1.pem" --key "$T/dev1.key" \
	-d grant_type=client_credentials "https://localhost:$P1/token")
[ "$code" = 200 ] && grep -q access_token "$T/token.out" && pass ||
	fail "a token for the device: HTTP $code"

ocsp_status() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/dev1.pem" \
		-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -timeout 10 2>&1 |
		sed -n "s|^$T/dev1.pem: ||p"
}
[ "$(ocsp_status)" = good ] && pass || fail "OCSP before the revocation"
check "revoke" tessera revoke --data "$D" --serial "$SERIAL" --reason keyCompromise
n=100
while [ "$n" -gt 0 ] && [ "$(ocsp_status)" != revoked ]; do
	sleep 0.1
	n=$((n - 1))
done
[ "$(ocsp_status)" = revoked ] && pass || fail "OCSP does not answer revoked"

# --- PostgreSQL gone while serving, then back -------------------------------
gone() {
	PG psql "$TESSERA_PG_DIR" -d postgres -c \
		"ALTER DATABASE $db ALLOW_CONNECTIONS false" >/dev/null
	PG psql "$TESSERA_PG_DIR" -d postgres -tA -c "SELECT count(pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE datname = '$db'" >/dev/null
}
back() {
	PG psql "$TESSERA_PG_DIR" -d postgres -c \
		"ALTER DATABASE $db ALLOW_CONNECTIONS true" >/dev/null
}
new_secret() { # NAME: prints the HTTP code of an API secret creation
	curl "${C[@]}" --cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
		-H 'Content-Type: application/json' -d '{"device": "pg-dev-2"}' \
		-o "$T/$1.out" -w '%{http_code}' \
		"https://localhost:$P1/api/v1/enrollment-secrets"
}
# Publication's answers in memory before the outage: the CRL that lists
# the revocation (none is rebuilt after this), fetched until each of the
# two workers has served it (a worker is named in Tessera-Worker).
crl_fetch() { # OUT: prints the worker that answered; fails unless HTTP 200
	curl -sf -D "$T/crl.hdr" -o "$1" "$PUB/crl/issuing.crl" &&
		header "$T/crl.hdr" Tessera-Worker
}
crl_lists_revocation() {
	crl_fetch "$T/crl.before" >/dev/null &&
		openssl crl -inform DER -in "$T/crl.before" -noout -text 2>/dev/null |
		grep -q "Serial Number: $SERIAL"
}
check "the CRL lists the revocation" wait_cmd 30 crl_lists_revocation
primed=" "
# One more fetch; true once both workers have served the CRL above.
both_primed() {
	local w
	w=$(crl_fetch "$T/crl.prime") && cmp -s "$T/crl.before" "$T/crl.prime" &&
		case "$primed" in *" $w "*) ;; *) primed="$primed$w " ;; esac
	[ "$(echo $primed | wc -w)" = 2 ]
}
wait_cmd 20 both_primed && pass ||
	fail "the CRL was not served by both workers before the outage:$primed"
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$D/tls/server.pem" -no_nonce \
	-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -timeout 10 >/dev/null 2>&1
gone
code=$(new_secret down)
[ "$code" = 503 ] && grep -q "unreachable" "$T/down.out" && pass ||
	{ fail "a write while PostgreSQL is gone: HTTP $code, want 503 with the reason"; cat "$T/down.out" >&2; }
# Publication keeps serving from memory meanwhile: both workers hold the
# CRL, so every answer is that CRL, whichever worker gives it.
n_ok=0
for i in 1 2 3 4 5 6 7 8; do
	crl_fetch "$T/crl.during" >/dev/null &&
		cmp -s "$T/crl.before" "$T/crl.during" && n_ok=$((n_ok + 1))
done
[ "$n_ok" = 8 ] && pass ||
	fail "$n_ok of 8 CRL requests served from memory while PostgreSQL is gone"
back
ok=0
for _ in $(seq 1 50); do
	[ "$(new_secret up)" = 201 ] && { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && pass || fail "writes did not resume after PostgreSQL came back"
kill -0 "$SERVER_PID" 2>/dev/null && pass || fail "serve died with PostgreSQL"
stop_server

check "audit verify" tessera audit verify --data "$D"
refuse "tessera backup of a PostgreSQL store" "back it up with PostgreSQL's own tools" \
	tessera backup --data "$D" --to "$T/backup.tar"

# --- faults at start --------------------------------------------------------
gone
refuse "serve with PostgreSQL unreachable" "cannot connect to PostgreSQL" \
	timeout 60 "$TESSERA_BIN" serve --data "$D" --listen "127.0.0.1:$P1" \
	--publish "127.0.0.1:$P2"
[ "$(grep -v -e ' info: ' -e ' warn: ' "$T/last.out" | grep -c .)" = 1 ] && pass ||
	{ fail "unreachable at start is not one line"; cat "$T/last.out" >&2; }
back
sql "UPDATE schema_version SET version = 99" >/dev/null
refuse "a store schema newer than the binary" \
	"database schema version 99 is newer than this tessera" \
	timeout 60 "$TESSERA_BIN" serve --data "$D" --listen "127.0.0.1:$P1" \
	--publish "127.0.0.1:$P2"
[ "$(sql 'SELECT version FROM schema_version')" = 99 ] && pass ||
	fail "refusing touched the schema version"
sql "UPDATE schema_version SET version = 8" >/dev/null

# --- several hosts: a dead one first is skipped; all dead, each one named ---
read -r DEAD1 DEAD2 < <(pick_ports 2)
use_url() { # URL: the store tessera.json names
	python3 -c '
import json, sys
p = sys.argv[1] + "/tessera.json"
j = json.load(open(p))
j["database"] = sys.argv[2]
json.dump(j, open(p, "w"), indent=2)' "$D" "$1"
}
orig=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["database"])' "$D/tessera.json")
use_url "postgresql://tessera@127.0.0.1:$DEAD1,127.0.0.1:$TCP/$db?sslmode=require&target_session_attrs=read-write&connect_timeout=2"
check "audit verify through a TCP URL whose first host is dead" tessera audit verify --data "$D"
use_url "postgresql://tessera@127.0.0.1:$DEAD1,127.0.0.1:$DEAD2/$db?sslmode=require&connect_timeout=2"
refuse "every host dead" "port $DEAD1 failed: Connection refused; connection to server at \"127.0.0.1\", port $DEAD2 failed" \
	tessera audit verify --data "$D"
[ "$(grep -c . "$T/last.out")" = 1 ] && pass ||
	{ fail "every host dead is not one line"; cat "$T/last.out" >&2; }
use_url "$orig"
finish
