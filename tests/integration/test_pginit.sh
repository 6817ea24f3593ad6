#!/usr/bin/env bash
# A failed `tessera init --store URL` leaves the database as it found it
# (empty): a certificate refused halfway through init (a trigger of the
# test's own refuses the third certificate row, after two committed) makes
# init fail with the reason, no row of init stays in any table, and the
# next init on the same database succeeds and verifies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pglib.sh"
pg_fresh_db t_pginit_$$
sql() { PG psql "$TESSERA_PG_DIR" -d "$db" -tA -c "$1"; }
rows() {
	sql "SELECT (SELECT count(*) FROM certificates) + (SELECT count(*) FROM audit)
	     + (SELECT count(*) FROM devices) + (SELECT count(*) FROM token_keys)
	     + (SELECT count(*) FROM crls) + (SELECT count(*) FROM issuers)"
}

# The schema first: an init that stops at the PIN file (after it opened
# the store, before any key or row).
refuse "init without its PIN file" "pin" \
	tessera init --data "$T/r0" --store "$URL" \
	--hsm-module /usr/lib/softhsm/libsofthsm2.so --hsm-token none \
	--hsm-pin-file "$T/no-such.pin"
[ "$(rows)" = 0 ] && pass || fail "the schema is not there, or holds rows"

# The third certificate init commits is refused by the database.
sql "CREATE FUNCTION t_refuse_third() RETURNS trigger LANGUAGE plpgsql AS
     \$\$ BEGIN
       IF (SELECT count(*) FROM certificates) >= 2 THEN
         RAISE EXCEPTION 'the test refuses a third certificate';
       END IF;
       RETURN NEW;
     END \$\$;
     CREATE TRIGGER t_refuse_third BEFORE INSERT ON certificates
       FOR EACH ROW EXECUTE FUNCTION t_refuse_third();" >/dev/null
refuse "init, its third certificate refused" "refuses a third certificate" \
	tessera init --data "$T/r1" --store "$URL"
[ ! -e "$T/r1" ] && pass || fail "the failed init left $T/r1"
left=$(rows)
[ "$left" = 0 ] && pass || fail "the failed init left $left rows in the database"

# Nothing is left in the way: init again, on the same database.
sql "DROP TRIGGER t_refuse_third ON certificates" >/dev/null
check "init on the database of the failed one" \
	tessera init --data "$T/var" --store "$URL"
check "audit verify" tessera audit verify --data "$T/var"
[ "$(sql "SELECT count(*) FROM certificates")" -ge 3 ] && pass ||
	fail "the second init stored no certificates"
finish
