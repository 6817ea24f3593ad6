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

# pg_two_nodes: node A's data directory (DA, $T/node-a) made by tessera
# init on $URL, copied as node B's (DB, $T/node-b); both served (TLS and
# publication ports A1 A2, B1 B2), their pids in PID_A and PID_B. A node
# that does not start ends the test.
pg_two_nodes() {
	read -r A1 A2 B1 B2 < <(pick_ports 4)
	DA=$T/node-a
	DB=$T/node-b
	check "init node A on PostgreSQL" tessera init --data "$DA" --store "$URL"
	cp -a "$DA" "$DB" && rm -f "$DB/serve.lock" && pass || fail "copy node A's directory"
	start_server "$DA" "$A1" "$A2" 2 || { fail "node A did not start"; finish; exit 1; }
	PID_A=$SERVER_PID
	start_server "$DB" "$B1" "$B2" 2 || { fail "node B did not start"; finish; exit 1; }
	PID_B=$SERVER_PID
}
