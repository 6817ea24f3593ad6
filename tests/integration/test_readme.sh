#!/usr/bin/env bash
# The README's walkthroughs, run as written: every ```sh block between
# <!-- walkthrough:begin --> and <!-- walkthrough:end --> runs in a fresh
# directory holding var/ (tessera init), against a running tessera serve.
# Only the ports and the path of the binary are substituted. The
# production-HSM block (<!-- production:begin --> .. end) runs on its own,
# as on a fresh machine, with /etc/tessera and /var/lib/tessera under this
# test's directory. The "Several nodes" block (<!-- nodes:begin --> ..
# end) runs in a directory of its own on a database of the PostgreSQL
# fixture, its four ports and the store's URL substituted.
. "$(dirname "$0")/lib.sh"
read -r P1 P2 < <(pick_ports 2)
cd "$T" || exit 1
# The service URL (the tokens' issuer) with this test's port, as the
# blocks will say it.
check "init" "$TESSERA_BIN" init --data var --url "https://localhost:$P1"
start_server var "$P1" "$P2" 1 || { fail "server did not start"; finish; exit 1; }

# The blocks, one script each, with build/tessera -> $TESSERA_BIN and the
# default ports -> this test's.
awk '/<!-- walkthrough:begin -->/ {on=1; n++; next}
     /<!-- walkthrough:end -->/ {on=0}
     on && /^```/ {next}
     on {print > ("block" n ".sh")}' "$TESSERA_SOURCE/README.md"
blocks=$(ls block*.sh 2>/dev/null | wc -l)
[ "$blocks" -ge 4 ] && pass || fail "found $blocks walkthrough blocks, want 4 or more"
for b in block*.sh; do
	sed -i -e "s|build/tessera|$TESSERA_BIN|g" -e "s|:8443|:$P1|g" \
		-e "s|:8080|:$P2|g" "$b"
	# python3 is Debian's, where python3-jwcrypto is installed.
	if PATH=/usr/bin:$PATH bash -euo pipefail "$b" >"$b.out" 2>&1; then pass; else
		fail "README block $b failed"; sed 's/^/    /' "$b.out" >&2
	fi
done

# What the blocks promise.
grep -q "^401$" block1.sh.out && pass || fail "second use of the secret was not refused with 401"
check "renewed certificate verifies" openssl verify -CAfile var/ca/chain.pem device-next.pem
[ "$(openssl x509 -in device.pem -noout -subject)" = "$(openssl x509 -in device-next.pem -noout -subject)" ] &&
	pass || fail "renewal changed the subject"
grep -q '"secret"' block2.sh.out && pass || fail "station did not get a secret"
n=$(sqlite3 var/tessera.db "select count(*) from certificates where device_id like 'line1-000%'")
[ "$n" = 3 ] && pass || fail "station enrolled $n devices, want 3"
grep -Eq "^token for device-0001 valid for (29[0-9]|300) s$" block3.sh.out &&
	pass || fail "jwcrypto did not verify the README's token"
grep -q '"sub": "device-0001"' block3.sh.out && pass || fail "tessera token verify printed no claims"
grep -q "device-next.pem: good" block4.sh.out && pass || fail "OCSP did not say good before the revocation"
grep -q "device-next.pem: revoked" block4.sh.out && pass || fail "OCSP did not say revoked after it"
grep -q "Serial Number: $(openssl x509 -in device-next.pem -noout -serial | cut -d= -f2)" block4.sh.out &&
	pass || fail "the CRL does not list the revoked certificate"
grep -q '"revocations":\[{' block4.sh.out && pass || fail "the feed is empty"
grep -q "^403$" block4.sh.out && pass || fail "a blocked device could renew"
grep -q "^device device-0001 active$" block5.sh.out && pass || fail "tessera admin did not reinstate device-0001"
grep -q "^2 secrets minted" block5.sh.out && pass || fail "tessera admin secrets import did not mint 2"
mode_is fleet-secrets.csv 600 && mode_is device-0002.secret 600 && pass ||
	fail "tessera admin wrote secrets to a file not 0600"
# The production-HSM block: SoftHSMv2 stands in for the vendor's module.
awk '/<!-- production:begin -->/ {on=1; next}
     /<!-- production:end -->/ {on=0}
     on && /^```/ {next}
     on {print > "production.sh"}' "$TESSERA_SOURCE/README.md"
if [ -s production.sh ]; then pass; else fail "no production block in README.md"; fi
sed -i -e "s|build/tessera|$TESSERA_BIN|g" -e "s|/etc/tessera|$T/etc/tessera|g" \
	-e "s|/var/lib/tessera|$T/var/lib/tessera|g" production.sh
grep -q "/etc/tessera\|/var/lib/tessera" <(grep -v "$T" production.sh) &&
	fail "production block: a path was not moved under $T"
if env -u TESSERA_HSM_PIN -u SOFTHSM2_CONF PATH=/usr/bin:$PATH \
	bash -euo pipefail production.sh >production.out 2>&1; then pass; else
	fail "README production block failed"; sed 's/^/    /' production.out >&2
fi
P=$T/var/lib/tessera
grep -q "TLS names:    DNS:ca.acme.example$" production.out && pass ||
	fail "production init did not print its names"
[ "$(openssl x509 -in "$P/tls/server.pem" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')" = \
	"DNS:ca.acme.example" ] && pass || fail "production TLS certificate names"
mode_is "$T/etc/tessera/hsm.pin" 600 && pass || fail "hsm.pin is not 0600"
[ ! -e "$P/hsm/user.pin" ] && [ ! -e "$P/hsm/softhsm2.conf" ] && pass || fail "the production data directory has an embedded token"
grep -q '"module": "/usr/lib/softhsm/libsofthsm2.so"' "$P/tessera.json" &&
	grep -q '"listen": "0.0.0.0:' "$P/tessera.json" && pass ||
	fail "production tessera.json: $(cat "$P/tessera.json")"
# Logging in again with the PIN file: the token, its keys and the PIN work.
check "production renew" env SOFTHSM2_CONF="$T/etc/tessera/softhsm2.conf" \
	"$TESSERA_BIN" renew --data "$P" tls
check "production audit verify" "$TESSERA_BIN" audit verify --data "$P"

# Several nodes: two serve on loopback, one PostgreSQL (the fixture's).
awk '/<!-- nodes:begin -->/ {on=1; next}
     /<!-- nodes:end -->/ {on=0}
     on && /^```/ {next}
     on {print > "nodes.sh"}' "$TESSERA_SOURCE/README.md"
if [ -s nodes.sh ]; then pass; else fail "no nodes block in README.md"; fi
if [ -n "${TESSERA_PG_DIR:-}" ] && [ -s "$TESSERA_PG_DIR/url" ]; then
	ndb=t_readme_nodes_$$
	NURL=$(bash "$TESSERA_SOURCE/tests/integration/pg.sh" newdb "$TESSERA_PG_DIR" "$ndb")
	cleanup_hooks+=("bash '$TESSERA_SOURCE/tests/integration/pg.sh' psql '$TESSERA_PG_DIR' -d postgres -c 'DROP DATABASE IF EXISTS $ndb WITH (FORCE)' >/dev/null 2>&1")
	read -r N1 N2 N3 N4 < <(pick_ports 4)
	grep -q "^STORE=" nodes.sh && pass || fail "the nodes block sets no STORE"
	# Its nodes are stopped whatever happens to the block.
	{
		echo "trap 'kill \$(jobs -p) 2>/dev/null || true; wait || true' EXIT"
		sed -e "s|^STORE=.*|STORE='${NURL//&/\\&}'|" -e "s|build/tessera|$TESSERA_BIN|g" \
			-e "s|:8444|:$N1|g" -e "s|:8081|:$N2|g" -e "s|:8445|:$N3|g" \
			-e "s|:8082|:$N4|g" nodes.sh
	} >nodes.run.sh
	mkdir "$T/nodes.d"
	if (cd "$T/nodes.d" && env -u TESSERA_HSM_PIN PATH=/usr/bin:$PATH \
		bash -euo pipefail "$T/nodes.run.sh") >nodes.out 2>&1; then pass; else
		fail "README nodes block failed"; sed 's/^/    /' nodes.out >&2
		sed 's/^/    node-a: /' nodes.d/node-a.log 2>/dev/null | grep -v ' info: ' >&2
	fi
	grep -q "^401$" nodes.out && pass || fail "nodes: the secret's second use (other node) was not refused"
	grep -q "sensor.pem: revoked" nodes.out && pass || fail "nodes: node B's OCSP did not say revoked"
	nserial=$(openssl x509 -in nodes.d/sensor.pem -noout -serial 2>/dev/null | cut -d= -f2)
	[ -n "$nserial" ] && grep -q "Serial Number: $nserial" nodes.out && pass ||
		fail "nodes: node B's CRL does not list the revocation"
	grep -q "^crlNumber=0x" nodes.out && pass || fail "nodes: no crlNumber printed"
	grep -q "scheduler: this node runs" nodes.d/node-b.log && pass ||
		fail "nodes: node B never ran the scheduled work"
	[ "$(cat nodes.d/node-a.log nodes.d/node-b.log 2>/dev/null |
		grep -c "scheduler: this node runs")" -ge 1 ] && pass || fail "nodes: no node was elected"
else
	fail "no PostgreSQL fixture (run through ctest: fixture pg)"
fi

# The key ceremonies: each block in a fresh directory, with its own
# SoftHSMv2 configuration and no server.
awk '/<!-- ceremony:begin -->/ {on=1; n++; next}
     /<!-- ceremony:end -->/ {on=0}
     on && /^```/ {next}
     on {print > ("ceremony" n ".sh")}' "$TESSERA_SOURCE/README.md"
for b in ceremony*.sh; do
	[ -s "$b" ] || { fail "no ceremony block in README.md"; continue; }
	mkdir "$T/$b.d"
	sed -i -e "s|build/tessera|$TESSERA_BIN|g" "$b"
	if (cd "$T/$b.d" && env -u TESSERA_HSM_PIN -u SOFTHSM2_CONF \
		PATH=/usr/bin:$PATH bash -euo pipefail "$T/$b") >"$b.out" 2>&1; then pass; else
		fail "README block $b failed"; sed 's/^/    /' "$b.out" >&2
	fi
done
grep -q "key prefix \"site-a\" is taken" ceremony1.sh.out && pass ||
	fail "the shared-token block's collision was not refused as described"
[ "$(grep -c '^object=site-b-' ceremony1.sh.out)" = 5 ] && pass ||
	fail "site-b's tessera.json does not name five site-b keys"
grep -q "imported the root CRL, number 1" ceremony2.sh.out && pass ||
	fail "the offline-root block did not import the root CRL"
grep -q "server.pem: OK" ceremony2.sh.out && pass ||
	fail "the offline-root block's TLS certificate does not verify"
grep -q "^old.pem: OK" ceremony3.sh.out && grep -q "^new.pem: OK" ceremony3.sh.out &&
	pass || fail "the rollover block's two chains do not verify"
grep -q "Issuing CA 2" ceremony3.sh.out && grep -q "/crl/issuing-g1.crl" ceremony3.sh.out &&
	pass || fail "the rollover block's new certificate is not the new CA's"
grep -q "in a rollover already" ceremony3.sh.out && pass ||
	fail "the rollover block's second rollover was not refused as described"
finish
