#!/usr/bin/env bash
# Revocation is monotonic: 100 device certificates are revoked over the
# API while eight clients POST nonce-less OCSP requests for all of them to
# two workers, and the stored answers of valid certificates are dropped
# every few milliseconds (as when they come due) so that most answers are
# signed online and stored. Once the revocations have returned, and again once every OCSP
# request in flight has been answered, no certificate is ever answered
# "good": an answer signed just before a revocation is never stored over
# the revoked one. Requests for serials nobody issued are
# answered (never good) and leave no row. Answers are read with Python's
# cryptography and verified against the responder's key.
. "$(dirname "$0")/lib.sh"
D=$T/var
N=100
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }

if ! python3 -c 'import cryptography' 2>/dev/null; then
	echo "python3-cryptography is missing (scripts/deps)" >&2
	fail "python3-cryptography"
	finish
	exit
fi
ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
check "init" tessera init --data "$D" --name "Race Test" \
	--publish-url "http://127.0.0.1:$P2"
# The flood comes from loopback: exempt it from the OCSP limit here.
python3 -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j.setdefault("rate_limits", {})["exempt"] = ["127.0.0.0/8"]
json.dump(j, open(p, "w"), indent=2)' "$D/policy.json"

# N device certificates, offline, and a nonce-less SHA-1 request for each.
mkdir -p "$T/c"
for i in $(seq 1 "$N"); do
	csr "c/d$i" "/CN=race-$i" -addext "subjectAltName=URI:urn:dev:race-$i" &&
		tessera issue --data "$D" --csr "$T/c/d$i.csr" --profile device \
			--out "$T/c/d$i.pem" >>"$T/issue.out" 2>&1 &&
		openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/c/d$i.pem" \
			-no_nonce -reqout "$T/c/d$i.req" >/dev/null 2>&1 ||
		fail "issue certificate $i"
done
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass

python3 - "$D" "$T/c" "$N" "$P1" "$P2" >"$T/race.out" 2>&1 <<'EOF'
import json, os, sqlite3, ssl, sys, threading, time, urllib.request
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives.asymmetric import ec

d, c, n, p1, p2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
certs = [x509.load_pem_x509_certificate(open("%s/d%d.pem" % (c, i), "rb").read())
         for i in range(1, n + 1)]
reqs = [open("%s/d%d.req" % (c, i), "rb").read() for i in range(1, n + 1)]
issuing = x509.load_pem_x509_certificate(open(d + "/ca/issuing.pem", "rb").read())
url = "http://127.0.0.1:%s/ocsp" % p2

def ask(body):
    r = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(r, timeout=30) as f:
        return f.read()

def status(i):
    resp = ocsp.load_der_ocsp_response(ask(reqs[i]))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    signer = resp.certificates[0]
    # The responder is issued by the issuing CA; the answer is its own.
    issuing.public_key().verify(signer.signature,
                                signer.tbs_certificate_bytes,
                                ec.ECDSA(signer.signature_hash_algorithm))
    signer.public_key().verify(resp.signature, resp.tbs_response_bytes,
                               ec.ECDSA(resp.signature_hash_algorithm))
    assert resp.serial_number == certs[i].serial_number
    return resp.certificate_status

# Warm: every certificate has a stored "good".
assert all(status(i) == ocsp.OCSPCertStatus.GOOD for i in range(n))

tls = ssl.create_default_context(cafile=d + "/ca/chain.pem")
tls.load_cert_chain(d + "/admin/admin.pem", d + "/admin/admin.key")
stop = threading.Event()
errors = []

def flood(k):
    i = k
    while not stop.is_set():
        try:
            ask(reqs[i % n])
        except Exception as e:
            errors.append("ocsp: %r" % e)
        i += 7

def bust():
    # Stored answers come due: the next request is signed online.
    db = sqlite3.connect(d + "/tessera.db", timeout=5)
    while not stop.is_set():
        try:
            # Only for certificates still valid: a row written over a
            # revocation stays to be found.
            db.execute("DELETE FROM ocsp_responses WHERE serial IN"
                       " (SELECT serial FROM certificates"
                       "  WHERE status = 'valid')")
            db.commit()
        except sqlite3.OperationalError:
            pass
        time.sleep(0.005)
    db.close()

def revoke(part):
    for i in part:
        s = "%X" % certs[i].serial_number
        r = urllib.request.Request(
            "https://localhost:%s/api/v1/certificates/%s/revoke" % (p1, s),
            data=b'{"reason": "keyCompromise"}', method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=60, context=tls) as f:
                assert f.status == 200
        except Exception as e:
            errors.append("revoke %s: %r" % (s, e))

floods = [threading.Thread(target=flood, args=(k,)) for k in range(8)]
floods.append(threading.Thread(target=bust))
for t in floods:
    t.start()
revokers = [threading.Thread(target=revoke, args=(range(k, n, 4),))
            for k in range(4)]
for t in revokers:
    t.start()
for t in revokers:
    t.join()
after_return = [i for i in range(n) if status(i) != ocsp.OCSPCertStatus.REVOKED]
stop.set()
for t in floods:
    t.join()
after_flood = [i for i in range(n) if status(i) != ocsp.OCSPCertStatus.REVOKED]
print(json.dumps({"errors": errors[:5], "error_count": len(errors),
                  "after_return": after_return, "after_flood": after_flood}))
EOF
result=$(tail -1 "$T/race.out")
check "the race ran ($result)" python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["error_count"] == 0, r' "$result"
check "revoked once the revocations returned" python3 -c '
import json, sys
assert json.loads(sys.argv[1])["after_return"] == []' "$result"
check "still revoked after every answer in flight was stored" python3 -c '
import json, sys
assert json.loads(sys.argv[1])["after_flood"] == []' "$result"
grep -v '^{' "$T/race.out" | head -20 | sed 's/^/    /' >&2
check "every stored answer is a revoked one for an issued certificate" \
	test "$(db "SELECT count(*) FROM ocsp_responses o JOIN certificates c
		USING (serial) WHERE c.status = 'revoked'")" -ge "$N"

# Made-up serials: answered, never good, never stored.
rows=$(db 'SELECT count(*) FROM ocsp_responses')
for i in $(seq 1 30); do
	printf -v s '7A%030X' "$i"
	openssl ocsp -issuer "$D/ca/issuing.pem" -serial "0x$s" -no_nonce \
		-url "http://127.0.0.1:$P2/ocsp" -CAfile "$D/ca/chain.pem" \
		>"$T/made-up.out" 2>&1
	grep -q "0x$s: revoked" "$T/made-up.out" || {
		fail "made-up serial $s is not answered revoked"
		sed 's/^/    /' "$T/made-up.out" >&2
		break
	}
done
pass
check "made-up serials leave no row" \
	test "$(db 'SELECT count(*) FROM ocsp_responses')" = "$rows"
finish
