#!/usr/bin/env bash
# Signed audit checkpoints end to end. tessera init creates the audit key
# in the token (sensitive, never extractable) and publishes its public half
# as ca/audit.pub.pem; a checkpoint verifies with plain openssl. Each
# command, `tessera audit checkpoint`, the server's tick (seen after a
# worker is killed and restarted) and the server's shutdown leave no entry
# unsigned. A data directory without an audit key still works. Then the
# forgeries: a changed entry, a changed entry with every later hash
# recomputed (caught at the next checkpoint), a checkpoint checked with the
# wrong key, a deleted entry, and the newest entries cut off with the last
# checkpoint, which the chain alone cannot show and a kept anchor does.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }
MODULE=${TESSERA_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
LABEL=tessera-audit-signing

# verify_says WHAT TEXT [ARGS...]: audit verify succeeds and says TEXT.
verify_says() {
	local what=$1 want=$2
	shift 2
	if ! tessera audit verify --data "$D" "$@" >"$T/verify.out" 2>&1; then
		fail "$what: audit verify failed"
		sed 's/^/    /' "$T/verify.out" >&2
	elif ! grep -qF -- "$want" "$T/verify.out"; then
		fail "$what: audit verify does not say '$want'"
		sed 's/^/    /' "$T/verify.out" >&2
	else pass; fi
}
# tail_count: entries after the last signed checkpoint, per audit verify.
tail_count() {
	tessera audit verify --data "$D" 2>/dev/null |
		sed -n 's/.*last signed checkpoint at [0-9]* (\([0-9]*\) entr.*/\1/p'
}
last_seq() { db 'SELECT max(seq) FROM audit'; }
ncheckpoints() { db "SELECT count(*) FROM audit WHERE action = 'checkpoint'"; }

# --- init: the key in the token, its public half in a file -----------------
check "init" tessera init --data "$D" --name "Audit Test"
mode_is "$D/ca/audit.pub.pem" 644 && pass ||
	fail "ca/audit.pub.pem is mode $(stat -c %a "$D/ca/audit.pub.pem"), want 644"
openssl pkey -pubin -in "$D/ca/audit.pub.pem" -noout -text >"$T/pub.txt" 2>&1
grep -q "ASN1 OID: prime256v1" "$T/pub.txt" && pass ||
	fail "ca/audit.pub.pem is not a P-256 public key"
grep -q "PRIVATE" "$D/ca/audit.pub.pem" && fail "audit.pub.pem holds a private key" || pass
uri=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"]["audit"])' \
	"$D/tessera.json" 2>&1)
[ "$uri" = "pkcs11:token=tessera;object=$LABEL" ] && pass ||
	fail "tessera.json keys.audit is '$uri'"

P11=(pkcs11-tool --module "$MODULE" --token-label tessera --login
	--pin "$(cat "$D/hsm/user.pin")")
SOFTHSM2_CONF=$D/hsm/softhsm2.conf "${P11[@]}" --list-objects --type privkey \
	>"$T/objects.txt" 2>&1
access=$(awk -v l="$LABEL" '$0 ~ "label: *"l"$" {f=1} f && /Access:/ {print; exit}' \
	"$T/objects.txt")
case $access in
*"never extractable"*) pass ;;
*) fail "$LABEL missing or extractable: '$access'" ;;
esac
case $access in
*sensitive*) pass ;;
*) fail "$LABEL is not sensitive: '$access'" ;;
esac
SOFTHSM2_CONF=$D/hsm/softhsm2.conf "${P11[@]}" --read-object --type pubkey \
	--label "$LABEL" -o "$T/token-pub.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$T/token-pub.der" >"$T/token-pub.pem" 2>/dev/null
cmp -s "$T/token-pub.pem" "$D/ca/audit.pub.pem" && pass ||
	fail "ca/audit.pub.pem is not the public key of $LABEL in the token"

# init signs its own entries: five certificates, then a checkpoint.
verify_says "after init" "6 entries, last signed checkpoint at 6 (0 entries after it)"
grep -qE '^anchor: 6:[0-9a-f]{64}$' "$T/verify.out" && pass ||
	fail "audit verify prints no anchor for checkpoint 6"

# An auditor with openssl alone: the checkpoint signs the 8-byte length of
# the label, the label, the covered seq as 8 bytes and its SHA-256.
IFS='|' read -r cp_actor cp_object cp_detail < <(db \
	"SELECT actor, object, detail FROM audit WHERE seq = 6")
cp_hash=${cp_detail#hash=}
cp_hash=${cp_hash%% *}
[ "$cp_actor/$cp_object" = "tessera/seq:5" ] && pass ||
	fail "checkpoint 6 is '$cp_actor' over '$cp_object'"
[ "$cp_hash" = "$(db "SELECT lower(hex(hash)) FROM audit WHERE seq = 5")" ] &&
	pass || fail "checkpoint 6 does not hold entry 5's hash"
{
	printf '%016x' 27 | xxd -r -p
	printf 'tessera audit checkpoint v1'
	printf '%016x' 5 | xxd -r -p
	printf '%s' "$cp_hash" | xxd -r -p
} >"$T/cp.msg"
printf '%s' "${cp_detail##* sig=}" | base64 -d >"$T/cp.sig"
check "openssl verifies checkpoint 6 with audit.pub.pem" openssl dgst -sha256 \
	-verify "$D/ca/audit.pub.pem" -signature "$T/cp.sig" "$T/cp.msg"
printf 'x' >>"$T/cp.msg"
refuse "openssl refuses a changed checkpoint message" "Verification failure" \
	openssl dgst -sha256 -verify "$D/ca/audit.pub.pem" -signature "$T/cp.sig" "$T/cp.msg"

# --- commands leave no entry unsigned ----------------------------------------
csr dev1 "/CN=dev-audit-1" -addext "subjectAltName=URI:urn:dev:dev-audit-1"
check "issue" tessera issue --data "$D" --csr "$T/dev1.csr" --profile device \
	--out "$T/dev1.pem"
serial=$(openssl x509 -in "$T/dev1.pem" -noout -serial | cut -d= -f2)
ISSUE_SEQ=$(db "SELECT seq FROM audit WHERE action = 'issue' AND object = '$serial'")
[ -n "$ISSUE_SEQ" ] && pass || fail "no audit entry for the issued certificate"
openssl req -new -newkey rsa:1024 -nodes -keyout "$T/weak.key" \
	-subj "/CN=dev-weak" -out "$T/weak.csr" 2>/dev/null
refuse "weak CSR refused" "rsa:1024" tessera issue --data "$D" \
	--csr "$T/weak.csr" --profile device --out "$T/weak.pem"
check "secret" tessera secret --data "$D" --device dev-audit-2
n=$(last_seq)
[ "$(ncheckpoints)" = 4 ] && pass ||
	fail "$(ncheckpoints) checkpoints after init and three commands, want 4"
verify_says "after three commands" "$n entries, last signed checkpoint at $n (0 entries after it)"
# Nothing new: no second checkpoint.
check "audit checkpoint with nothing to sign" tessera audit checkpoint --data "$D"
[ "$(last_seq)" = "$n" ] && pass || fail "a checkpoint over a checkpoint was written"

# --- a data directory made before audit keys ---------------------------------
cp "$D/tessera.json" "$T/tessera.json.keep"
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
del j["keys"]["audit"]
json.dump(j, open(sys.argv[1], "w"), indent=2)' "$D/tessera.json"
csr dev3 "/CN=dev-audit-3" -addext "subjectAltName=URI:urn:dev:dev-audit-3"
if tessera issue --data "$D" --csr "$T/dev3.csr" --profile device \
	--out "$T/dev3.pem" >"$T/old.out" 2>&1; then pass; else
	fail "issue without keys.audit"; sed 's/^/    /' "$T/old.out" >&2; fi
grep -q "names no audit key" "$T/old.out" && pass ||
	fail "no warning that checkpoints are off"
verify_says "unsigned entry without keys.audit" "last signed checkpoint at $n (1 entry after it)"
refuse "audit checkpoint without keys.audit" "names no audit key" \
	tessera audit checkpoint --data "$D"
mv "$D/ca/audit.pub.pem" "$T/kept.pub.pem"
refuse "checkpoints but no public key" "give --public-key" \
	tessera audit verify --data "$D"
verify_says "--public-key" "last signed checkpoint at $n (1 entry after it)" \
	--public-key "$T/kept.pub.pem"
cp "$T/tessera.json.keep" "$D/tessera.json"
refuse "audit.pub.pem missing" "audit.pub.pem" tessera audit verify --data "$D"
cp "$T/kept.pub.pem" "$D/ca/audit.pub.pem"
# With the key back, audit checkpoint signs the unsigned entry.
if tessera audit checkpoint --data "$D" >"$T/cp.out" 2>&1; then pass; else
	fail "audit checkpoint"; sed 's/^/    /' "$T/cp.out" >&2; fi
n=$(last_seq)
grep -qF "$n entries, last signed checkpoint at $n (0 entries after it)" "$T/cp.out" &&
	pass || fail "audit checkpoint did not sign the unsigned entry"

# --- the server: its tick and its shutdown -----------------------------------
ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
ADM=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem"
	--cert "$D/admin/admin.pem" --key "$D/admin/admin.key" -o /dev/null
	-w '%{http_code}')
# read_api: an audited admin read.
read_api() { "${ADM[@]}" "https://localhost:$P1/api/v1/certificates?limit=1"; }
# wait_signed SECONDS: until no entry is unsigned.
wait_signed() {
	local n=$(($1 * 10))
	while [ "$n" -gt 0 ]; do
		[ "$(tail_count)" = 0 ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
if start_server "$D" "$P1" "$P2" 1; then
	pass
	# The first tick runs at start; the next in a minute.
	sleep 1
	code=$(read_api)
	[ "$code" = 200 ] && pass || fail "admin read: HTTP $code"
	t=$(tail_count)
	[ "${t:-0}" -ge 1 ] && pass || fail "the admin read left no unsigned entry ($t)"
	# An operator's checkpoint while the server runs (before a backup).
	if tessera audit checkpoint --data "$D" >"$T/cp.out" 2>&1; then pass; else
		fail "audit checkpoint while serving"; sed 's/^/    /' "$T/cp.out" >&2; fi
	[ "$(tail_count)" = 0 ] && pass || fail "audit checkpoint left entries unsigned"

	# A worker killed mid-flight signs nothing; its successor's tick does.
	read_api >/dev/null
	t=$(tail_count)
	[ "${t:-0}" -ge 1 ] && pass || fail "the admin read left no unsigned entry ($t)"
	c0=$(ncheckpoints)
	worker=$(pgrep -x tessera -P "$SERVER_PID" | head -1)
	[ -n "$worker" ] && kill -KILL "$worker"
	if wait_signed 20; then pass; else
		fail "the restarted worker's tick did not sign the unsigned entries"; fi
	[ "$(ncheckpoints)" -gt "$c0" ] && pass || fail "no new checkpoint after the restart"
	wait_healthz "$P2" 20 || fail "server not healthy after the worker restart"

	# Shutdown signs what came since.
	code=$(read_api)
	[ "$code" = 200 ] && pass || fail "admin read after restart: HTTP $code"
	t=$(tail_count)
	[ "${t:-0}" -ge 1 ] && pass || fail "the admin read left no unsigned entry ($t)"
	stop_server
	[ "$(tail_count)" = 0 ] && pass || fail "entries left unsigned after shutdown"
else
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
fi

# --- forgeries ----------------------------------------------------------------
verify_says "before the forgeries" "(0 entries after it)"
ANCHOR=$(sed -n 's/^anchor: //p' "$T/verify.out")
LAST=$(last_seq)
verify_says "the anchor holds" "anchor $ANCHOR holds" --anchor "$ANCHOR"
db ".backup '$T/good.db'"
restore() { db ".restore '$T/good.db'"; }

# A changed entry.
db "UPDATE audit SET detail = 'forged' WHERE seq = $ISSUE_SEQ"
refuse "changed entry" "audit entry $ISSUE_SEQ: hash does not match its content" \
	tessera audit verify --data "$D"
restore

# The same change with every later hash recomputed, as a forger with write
# access but without the audit key would: the chain holds again, the next
# checkpoint does not.
python3 - "$D/tessera.db" "$ISSUE_SEQ" <<'EOF'
import hashlib, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
first = int(sys.argv[2])
def field(s):
    b = s.encode()
    return struct.pack(">Q", len(b)) + b
rows = db.execute("SELECT seq, time, actor, action, object, detail, prev_hash"
                  " FROM audit WHERE seq >= ? ORDER BY seq", (first,)).fetchall()
prev = None
for seq, time, actor, action, obj, detail, prev_hash in rows:
    if seq == first:
        detail = "forged"
    else:
        prev_hash = prev
    h = hashlib.sha256(bytes(prev_hash) + struct.pack(">QQ", seq, time) +
                       field(actor) + field(action) + field(obj) +
                       field(detail)).digest()
    db.execute("UPDATE audit SET detail = ?, prev_hash = ?, hash = ?"
               " WHERE seq = ?", (detail, prev_hash, h, seq))
    prev = h
db.commit()
EOF
CP=$(db "SELECT min(seq) FROM audit WHERE action = 'checkpoint' AND seq > $ISSUE_SEQ")
refuse "changed entry, hashes recomputed" \
	"audit entry $CP: the checkpoint signed another hash for entry $((CP - 1))" \
	tessera audit verify --data "$D"
restore
verify_says "restored" "last signed checkpoint at $LAST (0 entries after it)"

# Checked with another key: the first checkpoint is named.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
	openssl pkey -pubout -out "$T/other.pub.pem"
refuse "another public key" "audit entry 6: the checkpoint's signature does not verify" \
	tessera audit verify --data "$D" --public-key "$T/other.pub.pem"

# A deleted entry in the middle.
db "DELETE FROM audit WHERE seq = $ISSUE_SEQ"
refuse "deleted entry" "audit entry $ISSUE_SEQ is missing" tessera audit verify --data "$D"
restore

# The newest entries cut off with the last checkpoint: what is left is a
# whole chain ending in an older checkpoint, so verify alone passes and
# reports that older checkpoint; the anchor kept from before fails.
db "DELETE FROM audit WHERE seq >= $((LAST - 1))"
verify_says "cut off: the chain alone holds" "last signed checkpoint at"
grep -qF "last signed checkpoint at $LAST " "$T/verify.out" &&
	fail "cut off: verify still reports checkpoint $LAST" || pass
refuse "cut off: the kept anchor" "audit entry $LAST, which the anchor names, is not in the log" \
	tessera audit verify --data "$D" --anchor "$ANCHOR"
restore
verify_says "restored: the anchor holds" "anchor $ANCHOR holds" --anchor "$ANCHOR"
refuse "malformed anchor" "an audit anchor is SEQ:HEX" \
	tessera audit verify --data "$D" --anchor "$LAST:zz"

finish
