#!/usr/bin/env bash
# A certificate's CRL distribution point stays valid for its whole life:
# the policy goes from 4 CRL shards to 1, then from 1 to 4, with devices
# issued and revoked (`tessera revoke`) in each phase. After each change
# every certificate is checked with `openssl verify -crl_check` against the
# CRL its own CDP names, fetched from the server: the revoked ones are
# refused as revoked, the others accepted. The CRLs no certificate names
# are not served.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
PUB=http://127.0.0.1:$P2
check "init" tessera init --data "$D" --name "Shard Test" --publish-url "$PUB"
shards() {
	python3 -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["crl"]["shards"] = int(sys.argv[2])
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json" "$1"
}

CERTS=()
REVOKED=()
# issue_some PREFIX COUNT: offline issuance, appended to CERTS.
issue_some() {
	local i
	for i in $(seq 1 "$2"); do
		csr "$1-$i" "/CN=$1-$i" -addext "subjectAltName=URI:urn:dev:$1-$i" &&
			tessera issue --data "$D" --csr "$T/$1-$i.csr" \
				--profile device --out "$T/$1-$i.pem" >>"$T/issue.out" 2>&1 ||
			fail "issue $1-$i"
		CERTS+=("$1-$i")
	done
}
# revoke NAME: offline, by serial with leading zeros in lower case.
revoke() {
	local s
	s=$(openssl x509 -in "$T/$1.pem" -noout -serial | cut -d= -f2)
	check "revoke $1" tessera revoke --data "$D" --reason superseded \
		--serial "00$(tr 'A-F' 'a-f' <<<"$s")"
	REVOKED+=("$1")
}
is_revoked() {
	local r
	for r in "${REVOKED[@]}"; do [ "$r" = "$1" ] && return 0; done
	return 1
}
# serve: start the server and wait (bounded) until the CRLs it publishes
# at start list every revocation so far.
serve() {
	local n=300 skip
	touch "$T/serve.err"
	skip=$(($(wc -l <"$T/serve.err") + 1))
	start_server "$D" "$P1" "$P2" 2 || {
		fail "server did not come up"
		sed 's/^/    /' "$T/serve.err" >&2
		return 1
	}
	# A round of CRLs ends with the root's.
	while [ "$n" -gt 0 ]; do
		tail -n +"$skip" "$T/serve.err" | grep -q 'published root.crl' &&
			return 0
		sleep 0.1
		n=$((n - 1))
	done
	fail "no CRLs published within 30 s"
	return 1
}
# verify_all WHAT: each certificate against the CRL its CDP names.
verify_all() {
	local c url bad=0
	for c in "${CERTS[@]}"; do
		url=$(openssl x509 -in "$T/$c.pem" -noout -ext crlDistributionPoints |
			sed -n 's/^ *URI://p')
		if ! curl -sf -o "$T/$c.crl.der" "$url"; then
			fail "$1: $c names $url, which is not served"
			bad=1
			continue
		fi
		openssl crl -inform DER -in "$T/$c.crl.der" -out "$T/$c.crl.pem"
		openssl verify -crl_check -CAfile "$D/ca/chain.pem" \
			-CRLfile "$T/$c.crl.pem" "$T/$c.pem" >"$T/$c.verify" 2>&1
		if is_revoked "$c"; then
			grep -q "certificate revoked" "$T/$c.verify" || {
				fail "$1: revoked $c accepted with $url"
				bad=1
			}
		elif ! grep -q ": OK" "$T/$c.verify"; then
			fail "$1: $c refused with $url"
			sed 's/^/    /' "$T/$c.verify" >&2
			bad=1
		fi
	done
	[ "$bad" = 0 ] && pass
}

# Phase 1: four shards.
shards 4
issue_some four 8
revoke four-2
revoke four-5
serve || {
	finish
	exit
}
verify_all "4 shards"
stop_server

# Phase 2: one shard. The four shard CRLs stay, with their entries, while
# a certificate names them; issuing.crl is the full CRL.
shards 1
issue_some one 4
revoke one-1
revoke four-7
serve || {
	finish
	exit
}
verify_all "4 -> 1"
curl -sf -o "$T/full.der" "$PUB/crl/issuing.crl" &&
	n=$(openssl crl -inform DER -in "$T/full.der" -noout -text |
		grep -c 'Serial Number') &&
	[ "$n" = 4 ] && pass || fail "issuing.crl lists $n revocations, want 4"
stop_server

# Phase 3: back to four. issuing.crl stays for the certificates of phase 2.
shards 4
issue_some again 4
revoke again-3
revoke one-2
serve || {
	finish
	exit
}
verify_all "1 -> 4"
code=$(curl -s -o /dev/null -w '%{http_code}' "$PUB/crl/issuing-9.crl")
[ "$code" = 404 ] && pass || fail "a CRL nobody names: HTTP $code, want 404"
finish
