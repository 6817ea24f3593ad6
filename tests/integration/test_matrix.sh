#!/usr/bin/env bash
# The hostile-principal matrix (issue 10): principals (no certificate,
# device, superseded device, revoked device, blocked device and its secret,
# station with a device_pattern, revoked station, gateway, operator,
# auditor, admin, a one-time secret) x every EST label and operation,
# every admin API endpoint, secret minting for each profile and tokens x
# names (own id, another device's, case variants, SANs outside the
# template, extra subject attributes) x origins (same-site JSON, an empty
# cross-site POST). One server, one data directory; the table of expected
# answers and the checks are in matrix/matrix.py, which prints every cell.
# Refusals leave every table but the audit unchanged; every certificate
# issued is checked against the rule that allowed it; the audit chain
# verifies at the end.
. "$(dirname "$0")/lib.sh"
D=$T/var
W=$T/w
mkdir -p "$W"
PY=$(python3 -c 'import sys; print(sys.executable)')
if ! "$PY" -c 'import cryptography' 2>/dev/null; then
	fail "python3 cannot import cryptography (python3-cryptography)"
	finish
	exit
fi
ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
check "init" "$TESSERA_BIN" init --data "$D" --name "Matrix Test" \
	--url "https://localhost:$P1" \
	--publish-url "http://127.0.0.1:$P2"
# The test's policy: operator and auditor profiles (copied from the
# station's) for `tessera issue`; the operator's role also enrolls and
# mints for devices (only), so that an operator's delegation is tried
# too (the default's operator only revokes and reads); the station's
# devices match ^line-[0-9]{4}$; loopback is exempt from rate limits (the
# matrix sends a few hundred requests from it).
check "policy" "$PY" -c '
import copy, json, sys
p = sys.argv[1]
j = json.load(open(p))
for r in ("operator", "auditor"):
    prof = copy.deepcopy(j["profiles"]["station"])
    prof["description"] = r + " client certificate"
    j["profiles"][r] = prof
j["roles"]["operator"] = {"certificate_profiles": ["operator"],
    "enroll_profiles": ["device"],
    "device_pattern": "^[a-z0-9][a-z0-9.-]{0,63}$",
    "mint_secrets": True, "allow": ["127.0.0.0/8", "::1/128"]}
j["roles"]["auditor"] = {"certificate_profiles": ["auditor"],
    "allow": ["127.0.0.0/8", "::1/128"]}
j["roles"]["station"]["device_pattern"] = "^line-[0-9]{4}$"
j.setdefault("rate_limits", {})["exempt"] = ["127.0.0.0/8", "::1/128"]
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json"
if ! start_server "$D" "$P1" "$P2"; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass
"$PY" "$(dirname "$0")/matrix/matrix.py" --data "$D" --port "$P1" \
	--tessera "$TESSERA_BIN" --work "$W" --counts "$W/counts"
if read -r p f s <"$W/counts"; then
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	echo "matrix: $s cells skipped (PENDING)"
else
	fail "the matrix driver did not finish"
fi
kill -0 "$SERVER_PID" 2>/dev/null && pass || fail "the server died during the matrix"
stop_server
check "audit verify" "$TESSERA_BIN" audit verify --data "$D"
finish
