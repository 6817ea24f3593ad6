# Shared by the tests that run on the PostgreSQL fixture "pg" (sourced after
# lib.sh, not run): pg.sh as PG, tessera, and a fresh database of the test's
# own, dropped at exit.
: "${TESSERA_PG_DIR:?TESSERA_PG_DIR: run through ctest (fixture pg)}"
PG() { bash "$TESSERA_SOURCE/tests/integration/pg.sh" "$@"; }
tessera() { "$TESSERA_BIN" "$@"; }

# pg_fresh_db NAME: a fresh database NAME owned by tessera, dropped at exit;
# sets db (its name) and URL, or fails the test and exits.
pg_fresh_db() {
	db=$1
	URL=$(PG newdb "$TESSERA_PG_DIR" "$db") || {
		fail "no database from the fixture"
		finish
		exit 1
	}
	cleanup_hooks+=("PG psql '$TESSERA_PG_DIR' -d postgres -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)' >/dev/null 2>&1")
}
