#!/usr/bin/env bash
# Requests in flight, seen from outside, on one worker (--workers 1):
# - two keep-alive connections are served by two threads at once;
# - a request whose signature is slow (p11fault, in the signer process,
#   holds one C_Sign while a file exists) holds up nobody else: cacerts,
#   /healthz and another enrollment on the same worker are answered
#   meanwhile, and the held enrollment completes once the HSM goes on;
# - a keep-alive connection's client chain is verified once, but its
#   revocation still counts on the next request of that connection;
# - on the plain listener (a pool of threads), an OCSP answer whose
#   signature is held holds up none of the pool's other connections;
# - a token's audit row is committed while its signature is being made;
# - an OCSP POST's signature is waited for by the worker's finisher thread,
#   not its pool thread; a killed signer gets it answered tryLater.
. "$(dirname "$0")/lib.sh"
D=$T/var
PY=/usr/bin/python3
tessera() { "$TESSERA_BIN" "$@"; }
: "${TESSERA_P11FAULT:?TESSERA_P11FAULT must point at libp11fault.so}"

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
URL=https://localhost:$P1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")
check "init" tessera init --data "$D" --url "$URL" --publish-url "$PUB"

# The token through p11fault, which forwards to the real module.
export P11FAULT_MODULE=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["hsm"]["module"])' "$D/tessera.json")
export P11FAULT_HOLD=$T/hold
$PY -c '
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["hsm"]["module"] = sys.argv[2]
json.dump(j, open(p, "w"), indent=2)' "$D/tessera.json" "$TESSERA_P11FAULT"
if ! start_server "$D" "$P1" "$P2" 1; then
	fail "server did not come up"
	finish
	exit
fi
pass

# --- two keep-alive connections, two threads --------------------------------
cat >"$T/two.py" <<'EOF'
import http.client, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
conns = [http.client.HTTPSConnection("localhost", port, context=ctx,
                                     timeout=20) for _ in range(2)]
seen = []
for c in conns:
    c.connect()
socks = [c.sock for c in conns]
for _ in range(3):
    for i, c in enumerate(conns):
        c.request("GET", "/.well-known/est/cacerts")
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        seen.append((i, r.getheader("Tessera-Worker"),
                     r.getheader("Tessera-Thread")))
# Keep-alive held: the same sockets throughout.
assert [c.sock for c in conns] == socks, "a connection was reopened"
per = {i: {(w, t) for j, w, t in seen if j == i} for i in range(2)}
assert all(len(v) == 1 for v in per.values()), per
(a,), (b,) = per[0], per[1]
assert None not in a and None not in b, (a, b)
assert a[0] == b[0], ("two workers with --workers 1?", a, b)
assert a[1] != b[1], ("both connections on one thread", a, b)
print(a, b)
EOF
check "two keep-alive connections, each on its own thread" \
	$PY "$T/two.py" "$P1" "$D/ca/chain.pem"

# --- a held signature holds up nobody else ----------------------------------
# enroll NAME ID SECRET: prints the HTTP code; headers in NAME.hdr.
enroll() {
	csr "$1" "/CN=$2" -addext "subjectAltName=URI:urn:dev:$2"
	openssl req -in "$T/$1.csr" -outform DER 2>/dev/null | base64 -w0 |
		"${CURL[@]}" -D "$T/$1.hdr" -o "$T/$1.p7" -w '%{http_code}' \
			-u "$2:$3" -H 'Content-Type: application/pkcs10' \
			--data-binary @- "$URL/.well-known/est/simpleenroll"
	base64 -d "$T/$1.p7" 2>/dev/null | openssl pkcs7 -inform DER \
		-print_certs 2>/dev/null | openssl x509 -out "$T/$1.pem" 2>/dev/null
}
secret() { tessera secret --data "$D" --device "$1" 2>/dev/null | tail -1; }
# wait_for CMD...: until CMD succeeds, at most 20 s.
wait_for() { wait_cmd 20 "$@"; }
# held ROUND OUT CMD...: hold the next signature (p11fault), run CMD in
# the background into OUT ($A its pid) and wait until the signature is
# held; 1, with the round failed and CMD ended, when none is.
held() {
	local round=$1 out=$2
	shift 2
	rm -f "$T/hold.held"
	touch "$T/hold"
	"$@" >"$out" &
	A=$!
	wait_for test -s "$T/hold.held" && return 0
	rm -f "$T/hold"
	wait "$A"
	fail "round $round: no signature was held"
	return 1
}

# The scheduler signs too (CRLs, audit checkpoints): when its signature
# is the one held, the slow enrollment is not waiting any more when the
# others are answered, and another round is run.
held_ok=0
for round in 1 2 3; do
	SA=$(secret "slow-$round")
	SB=$(secret "fast-$round")
	held "$round" "$T/slow$round.code" \
		enroll "slow$round" "slow-$round" "$SA" || break
	# While one signature is held: the same worker answers the others.
	c1=$("${CURL[@]}" -o /dev/null -w '%{http_code}' --max-time 10 \
		"$URL/.well-known/est/cacerts")
	c2=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$PUB/healthz")
	c3=$(enroll "fast$round" "fast-$round" "$SB")
	kill -0 "$A" 2>/dev/null && a_waits=1 || a_waits=0
	rm -f "$T/hold"
	wait "$A"
	ca=$(cat "$T/slow$round.code")
	if [ "$a_waits" = 0 ]; then
		# Not the enrollment's signature: only the answers count.
		[ "$c1 $c2 $c3 $ca" = "200 200 200 200" ] ||
			fail "round $round: $c1 $c2 $c3 $ca while another signature was held"
		continue
	fi
	held_ok=1
	check "cacerts while an enrollment's signature is held ($c1)" test "$c1" = 200
	check "healthz meanwhile ($c2)" test "$c2" = 200
	check "another enrollment meanwhile ($c3)" test "$c3" = 200
	check "the held enrollment completes when the HSM goes on ($ca)" \
		test "$ca" = 200
	check "both from the one worker" test \
		"$(header "$T/slow$round.hdr" Tessera-Worker)" = \
		"$(header "$T/fast$round.hdr" Tessera-Worker)"
	check "the held certificate is whole" openssl verify \
		-CAfile "$D/ca/chain.pem" "$T/slow$round.pem"
	break
done
check "an enrollment's signature was held in one of three rounds" \
	test "$held_ok" = 1

# --- a keep-alive connection verifies its chain once, revocation counts ----
SR=$(secret rev-1)
check "enroll the device for the keep-alive test" \
	test "$(enroll rev rev-1 "$SR")" = 200
serial=$(openssl x509 -in "$T/rev.pem" -noout -serial | cut -d= -f2)
cat >"$T/keep.py" <<'EOF'
import http.client, os, ssl, sys, time
port, ca, cert, key, go, done = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
c = http.client.HTTPSConnection("localhost", int(port), context=ctx,
                                timeout=20)
def token():
    c.request("POST", "/token", body="grant_type=client_credentials",
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    return r.status
c.connect()
sock = c.sock
first = [token(), token()]
open(done, "w").write("ready")
deadline = time.time() + 30
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
after = token()
assert c.sock is sock, "the connection was reopened"
print(first[0], first[1], after)
EOF
$PY "$T/keep.py" "$P1" "$D/ca/chain.pem" "$T/rev.pem" "$T/rev.key" \
	"$T/keep.go" "$T/keep.ready" >"$T/keep.out" 2>&1 &
K=$!
if wait_for test -s "$T/keep.ready"; then
	check "revoke the device's certificate while its connection is open" \
		tessera revoke --data "$D" --serial "$serial" --reason keyCompromise
fi
touch "$T/keep.go"
wait "$K"
read -r t1 t2 t3 <"$T/keep.out"
check "two tokens on one keep-alive connection ($t1 $t2)" \
	test "$t1 $t2" = "200 200"
if [ -n "${t3:-}" ] && [ "$t3" != 200 ] && [ "$t3" -ge 400 ] 2>/dev/null; then
	pass
else
	fail "the same connection after its certificate's revocation: want a 4xx, got '${t3:-}'"
	sed 's/^/    /' "$T/keep.out" >&2
fi
# --- a token's row commits while its signature is made ----------------------
# The worker sends the signing input to the signer and commits the mint's
# audit row meanwhile; the token goes out when both are done. So while the
# token's C_Sign is held its row is already in the store, and the token
# that comes afterwards carries the jti that row names.
SK=$(secret tok-1)
check "enroll the device for the held token" \
	test "$(enroll tok tok-1 "$SK")" = 200
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }
minted() {
	db "SELECT count(*) FROM audit WHERE action = 'token' AND object = 'tok-1'"
}
more_minted() { [ "$(minted)" -gt "$before" ]; }
held_ok=0
for round in 1 2 3; do
	before=$(minted)
	# Longer than wait_for: still waiting while its row is looked for.
	held "$round" "$T/tok$round.code" curl -sS --max-time 60 \
		--cacert "$D/ca/chain.pem" --cert "$T/tok.pem" \
		--key "$T/tok.key" -o "$T/tok$round.json" -w '%{http_code}' \
		--data grant_type=client_credentials "$URL/token" || break
	# The row may still be committing when the signature is held.
	wait_for more_minted
	during=$(minted)
	kill -0 "$A" 2>/dev/null && a_waits=1 || a_waits=0
	rm -f "$T/hold"
	wait "$A"
	[ "$a_waits" = 1 ] || continue # not the token's signature
	held_ok=1
	check "the token's row is committed while its signature is held" \
		test "$during" -gt "$before"
	check "the held token comes when the HSM goes on" \
		test "$(cat "$T/tok$round.code")" = 200
	jti=$($PY -c '
import base64, json, sys
t = json.load(open(sys.argv[1]))["access_token"].split(".")[1]
print(json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))["jti"])' \
		"$T/tok$round.json" 2>/dev/null)
	check "the row names the token's jti ($jti)" test -n "$jti" -a \
		"$(db "SELECT count(*) FROM audit WHERE action = 'token' AND \
			detail LIKE 'jti=$jti %'")" = 1
	break
done
check "a token's signature was held in one of three rounds" \
	test "$held_ok" = 1

# --- a held OCSP signature on the plain listener holds up nobody else ------
# The plain listener's pool threads answer only from memory; an OCSP POST
# with a nonce (signed online) runs on a thread of its own, so the other
# connections its pool thread serves are answered while its signature is
# held: eight keep-alive connections opened before it (so some share its
# pool thread), asking for the CA certificate and a stored OCSP answer.
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/rev.pem" -no_nonce \
	-reqout "$T/get.der" >/dev/null 2>&1
GETPATH=/ocsp/$(base64 -w0 "$T/get.der" | sed 's/+/%2B/g; s|/|%2F|g; s/=/%3D/g')
check "a stored OCSP answer over GET" test "$(curl -sS -o /dev/null \
	-w '%{http_code}' --max-time 10 "$PUB$GETPATH")" = 200
cat >"$T/eight.py" <<'EOF'
import http.client, os, sys, time
port, path, ready, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5)
         for _ in range(8)]
def ask(c, p):
    try:
        c.request("GET", p)
        r = c.getresponse()
        r.read()
        return str(r.status)
    except Exception as e:
        return type(e).__name__
first = [ask(c, "/ca/issuing.crt") for c in conns]
socks = [c.sock for c in conns]
open(ready, "w").close()
deadline = time.time() + 30
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.02)
codes = [ask(c, "/ca/issuing.crt" if i % 2 else path)
         for i, c in enumerate(conns)]
same = all(c.sock is s for c, s in zip(conns, socks))
print(" ".join(first), "|", " ".join(codes), "|", "same" if same else "reopened")
EOF
held_ok=0
for round in 1 2 3; do
	rm -f "$T/hold.held" "$T/eight.ready" "$T/eight.go"
	$PY "$T/eight.py" "$P2" "$GETPATH" "$T/eight.ready" "$T/eight.go" \
		>"$T/eight$round.out" 2>&1 &
	E=$!
	wait_for test -e "$T/eight.ready"
	touch "$T/hold"
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/rev.pem" \
		-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -timeout 30 \
		>"$T/held$round.ocsp" 2>&1 &
	A=$!
	if ! wait_for test -s "$T/hold.held"; then
		rm -f "$T/hold"
		touch "$T/eight.go"
		wait "$A" "$E"
		fail "round $round: no signature was held"
		break
	fi
	touch "$T/eight.go"
	wait "$E"
	kill -0 "$A" 2>/dev/null && a_waits=1 || a_waits=0
	rm -f "$T/hold"
	wait "$A"
	want="200 200 200 200 200 200 200 200 | 200 200 200 200 200 200 200 200 | same"
	got=$(cat "$T/eight$round.out")
	if [ "$a_waits" = 0 ]; then
		# Not the OCSP answer's signature: only the answers count.
		[ "$got" = "$want" ] ||
			fail "round $round: $got while another signature was held"
		continue
	fi
	held_ok=1
	check "eight keep-alive connections while an OCSP signature is held ($got)" \
		test "$got" = "$want"
	check "the held OCSP answer comes when the HSM goes on" \
		grep -q "rev.pem: revoked" "$T/held$round.ocsp"
	break
done
check "an OCSP answer's signature was held in one of three rounds" \
	test "$held_ok" = 1

# --- an OCSP POST's signature is waited for by the finisher ----------------
# The pool thread starts the signature and goes on; one finisher thread per
# worker waits for the signer's answer and resumes the connection. Made
# deterministic: keep-alive connections on the POST's own pool thread
# (Tessera-Thread) are answered while its signature is held, the POST's
# connection has no answer yet meanwhile, and the worker has no helper
# thread (the POST took no helper's detour). It fails when the pool
# thread waits for the signature itself.
workers() { pgrep -x tessera -P "$SERVER_PID"; }
threads_named() { # NAME: how many threads of the workers are called NAME
	local p n=0
	for p in $(workers); do
		n=$((n + $(cat /proc/"$p"/task/*/comm 2>/dev/null | grep -cx "$1" || true)))
	done
	echo "$n"
}
no_helper() { test "$(threads_named http-helper)" = 0; }
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/rev.pem" \
	-reqout "$T/nonce.der" >/dev/null 2>&1
cat >"$T/shared.py" <<'PYEOF'
import http.client, os, select, sys, time
port, req, ready, go, asked, out = (int(sys.argv[1]), sys.argv[2],
    sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
def ask(c, p="/ca/issuing.crt"):
    try:
        c.request("GET", p)
        r = c.getresponse()
        r.read()
        return str(r.status), r.getheader("Tessera-Thread")
    except Exception as e:
        return type(e).__name__, None
def wait_file(f):
    deadline = time.time() + 30
    while not os.path.exists(f) and time.time() < deadline:
        time.sleep(0.02)
post = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
code, mine = ask(post)
# Connections until a few share the POST's pool thread (within the
# per-address limit).
shared, others = [], []
for _ in range(24):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    code, t = ask(c)
    (shared if t == mine else others).append(c)
    if len(shared) >= 3:
        break
open(ready, "w").close()
wait_file(go)
post.request("POST", "/ocsp", open(req, "rb").read(),
             {"Content-Type": "application/ocsp-request"})
# The shell sees the signature held, then says go again.
wait_file(go + "2")
codes = [ask(c)[0] for c in shared]
waiting = not select.select([post.sock], [], [], 0)[0]
open(asked, "w").close()
r = post.getresponse()
ans = r.read()
open(out, "wb").write(ans)
print(len(shared), ",".join(codes) or "-", "held" if waiting else "answered",
      r.status, r.getheader("Content-Type"),
      "same-thread" if r.getheader("Tessera-Thread") == mine else "other-thread")
PYEOF
# Idle helpers (of the deferred requests above) end after 10 s.
check "the idle helper threads end" wait_cmd 30 no_helper
check "each worker has its finisher thread" \
	test "$(threads_named http-finisher)" = "$(workers | wc -l)"
# The scheduler signs too: when its signature is the one held, the POST
# is answered at once, and another round is run.
held_ok=0
for round in 1 2 3; do
	rm -f "$T/hold.held" "$T/sh.ready" "$T/sh.go" "$T/sh.go2" \
		"$T/sh.asked" "$T/sh.resp"
	$PY "$T/shared.py" "$P2" "$T/nonce.der" "$T/sh.ready" "$T/sh.go" \
		"$T/sh.asked" "$T/sh.resp" >"$T/shared.out" 2>&1 &
	E=$!
	wait_for test -e "$T/sh.ready"
	touch "$T/hold"
	touch "$T/sh.go"
	if ! wait_for test -s "$T/hold.held"; then
		rm -f "$T/hold"
		touch "$T/sh.go2"
		wait "$E"
		fail "round $round: no signature was held"
		break
	fi
	helpers=$(threads_named http-helper)
	touch "$T/sh.go2"
	wait_for test -e "$T/sh.asked"
	rm -f "$T/hold"
	wait "$E"
	read -r nshared codes state status ctype thread <"$T/shared.out" || true
	check "round $round: connections on the POST's pool thread ($(cat "$T/shared.out"))" \
		test "${nshared:-0}" -ge 1
	check "round $round: they are answered while a signature is held ($codes)" \
		test -n "$codes" -a -z "$(tr -d '20,' <<<"$codes")"
	# Not the POST's signature that was held: only the answers count.
	[ "$state" = held ] || continue
	held_ok=1
	check "the POST was still held meanwhile ($state)" test "$state" = held
	check "no helper thread took the POST ($helpers)" test "$helpers" = 0
	check "the held POST is answered once the HSM goes on ($status $ctype)" \
		test "$status $ctype" = "200 application/ocsp-response"
	check "on its connection's pool thread ($thread)" \
		test "$thread" = same-thread
	# (Without -cert: given one, openssl makes a request of its own.)
	openssl ocsp -reqin "$T/nonce.der" -respin "$T/sh.resp" \
		-CAfile "$D/ca/chain.pem" -resp_text >"$T/sh.verify" 2>&1 || true
	check "the answer verifies and says revoked" \
		grep -q 'Cert Status: revoked' "$T/sh.verify"
	check "its nonce is the request's" sh -c "grep -q 'Response verify OK' \
		'$T/sh.verify' && ! grep -qi 'nonce verify error\|no nonce' '$T/sh.verify'"
	break
done
check "the POST's signature was held in one of three rounds" \
	test "$held_ok" = 1

# --- the signer killed under a held OCSP POST ------------------------------
# The finisher sees the signer's connection closed: the answer is tryLater
# at once (the signer is unavailable), the connection not left hanging;
# once the supervisor has started a new signer, a POST is signed again.
signer_pid() { pgrep -x tessera-signer -P "$SERVER_PID"; }
# ocsp_post: one OCSP POST with a nonce, its verdict or error on stdout.
ocsp_post() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/rev.pem" \
		-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -timeout 30 2>&1
}
signed_again() {
	local s
	s=$(signer_pid)
	[ -n "$s" ] && [ "$s" != "$old_signer" ] &&
		ocsp_post | grep -q 'rev.pem: revoked'
}
held_ok=0
for round in 1 2 3; do
	old_signer=$(signer_pid)
	held "$round" "$T/killed.ocsp" ocsp_post || break
	if [ -z "$old_signer" ]; then
		rm -f "$T/hold"
		wait "$A" || true
		fail "round $round: no signer process"
		break
	fi
	# The POST still waiting: its signature is the one held.
	kill -0 "$A" 2>/dev/null && a_waits=1 || a_waits=0
	kill -KILL "$old_signer"
	rm -f "$T/hold"
	# Bounded: a connection left hanging would run into -timeout 30.
	wait "$A" || true
	check "round $round: signed again once a new signer runs" \
		wait_cmd 30 signed_again
	[ "$a_waits" = 1 ] || continue
	held_ok=1
	check "a killed signer: the held POST is answered tryLater ($(tr '\n' ' ' <"$T/killed.ocsp"))" \
		grep -qi 'trylater' "$T/killed.ocsp"
	break
done
check "the killed signer held the POST's signature in one of three rounds" \
	test "$held_ok" = 1
finish
