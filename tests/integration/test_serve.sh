#!/usr/bin/env bash
# tessera serve: the supervisor and its workers on loopback, driven by curl
# and openssl. TLS 1.2/1.3 only, the client certificate optional, bodies
# with Content-Length (never chunked), keep-alive and Connection: close,
# limits on bodies and headers, hostile clients, a killed worker restarted,
# SIGHUP reload, clean SIGTERM, a wrong PIN refused in one line. Under the
# ASan build, the server's stderr must hold no sanitizer report.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }

# A free TCP port that no one listens on, below the kernel's ephemeral
# range (lib.sh's pick_ports), and not one this test took already: an
# ephemeral client port can take a port picked above 32767 before the
# server binds it.
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$(pick_ports 1) || return 1
		case " ${USED_PORTS:-} " in *" $p "*) continue ;; esac
		USED_PORTS="${USED_PORTS:-} $p"
		echo "$p"
		return 0
	done
	return 1
}
P1=$(free_port)
USED_PORTS=" $P1"
P2=$(free_port)
USED_PORTS="$USED_PORTS $P2"
TLS=https://localhost:$P1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")

# Workers of supervisor pid $1, one per line.
# The workers (comm "tessera"; the signer is "tessera-signer").
workers() { pgrep -x tessera -P "$1" | sort; }

# wait_until SECONDS command...: poll (every 0.2 s) until the command works.
wait_until() {
	local n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}
healthy() { curl -sf --max-time 5 -o /dev/null "$PUB/healthz"; }

check "serve --help" tessera serve --help
check "init" tessera init --data "$D" --name "Serve Test"

"$TESSERA_BIN" serve --data "$D" --listen "127.0.0.1:$P1" \
	--publish "127.0.0.1:$P2" --workers 2 >"$T/serve.out" 2>"$T/serve.err" &
SERVE=$!
cleanup_hooks+=("kill -TERM $SERVE 2>/dev/null; wait $SERVE 2>/dev/null")
if ! wait_until 60 healthy; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass
wait_until 10 grep -qF "serving https://127.0.0.1:$P1 (EST, API) and http://127.0.0.1:$P2 (CRL, OCSP, CA certificates) with 2 workers" "$T/serve.err" &&
	pass || fail "no 'serving ...' line"
[ "$(workers $SERVE | wc -l)" = 2 ] && pass || fail "not 2 workers"

# cacerts over TLS, no client certificate.
code=$("${CURL[@]}" -D "$T/cacerts.hdr" -o "$T/cacerts.b64" -w '%{http_code}' \
	"$TLS/.well-known/est/cacerts")
[ "$code" = 200 ] && pass || fail "cacerts without client certificate: $code"
grep -qi '^content-type: application/pkcs7-mime' "$T/cacerts.hdr" &&
	pass || fail "cacerts Content-Type"
n=$(base64 -d "$T/cacerts.b64" | openssl pkcs7 -inform DER -print_certs |
	grep -c '^subject=')
[ "$n" = 2 ] && pass || fail "cacerts holds $n certificates, want 2"
grep -qi '^content-length: [0-9]' "$T/cacerts.hdr" && pass ||
	fail "cacerts lacks Content-Length"
grep -qi '^transfer-encoding' "$T/cacerts.hdr" && fail "cacerts is chunked" || pass

# With the admin client certificate.
code=$("${CURL[@]}" --cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
	-o /dev/null -w '%{http_code}' "$TLS/.well-known/est/cacerts")
[ "$code" = 200 ] && pass || fail "cacerts with client certificate: $code"
# The server asks for a certificate (naming tessera's CAs) without
# requiring one.
openssl s_client -connect "127.0.0.1:$P1" -servername localhost \
	</dev/null >"$T/sclient.out" 2>&1
grep -q "Acceptable client certificate CA names" "$T/sclient.out" &&
	grep -q "Issuing CA" "$T/sclient.out" && pass ||
	fail "server does not request a client certificate"

# No Nagle on an accepted socket, from before its first byte: a TLS
# handshake record written while the one before is unacknowledged would
# wait for the client's delayed ACK (40 ms a new connection). The
# server's end of a fresh connection (no byte sent) is taken from the
# worker with pidfd_getfd(2) and asked for TCP_NODELAY.
nodelay() { # PORT: prints 1 when the server's end has TCP_NODELAY
	python3 - "$1" <<'EOF_PY'
import ctypes, os, re, socket, subprocess, sys, time
port = int(sys.argv[1])
c = socket.create_connection(("127.0.0.1", port), timeout=10)
me = c.getsockname()[1]
libc = ctypes.CDLL(None, use_errno=True)
seen = "no server socket"
for _ in range(30):  # 3 s at most (a connection without a request may stay 5 s)
    out = subprocess.run(["ss", "-tnpH", "state", "established",
                          f"( sport = :{port} and dport = :{me} )"],
                         capture_output=True, text=True).stdout
    m = re.search(r"pid=(\d+),fd=(\d+)", out)
    if m:
        pidfd = os.pidfd_open(int(m[1]))
        fd = libc.syscall(438, pidfd, int(m[2]), 0)  # pidfd_getfd
        os.close(pidfd)
        if fd < 0:
            seen = "pidfd_getfd: " + os.strerror(ctypes.get_errno())
        else:
            s = socket.socket(fileno=fd)
            seen = str(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            s.close()
            if seen != "0":
                break
    time.sleep(0.1)
print("1" if seen.isdigit() and seen != "0" else seen)
EOF_PY
}
v=$(nodelay "$P1")
[ "$v" = 1 ] && pass || fail "TLS listener: accepted socket without TCP_NODELAY ($v)"
v=$(nodelay "$P2")
[ "$v" = 1 ] && pass || fail "plain listener: accepted socket without TCP_NODELAY ($v)"

# The plain listener.
code=$(curl -sS -D "$T/root.hdr" -o "$T/root.crt" -w '%{http_code}' "$PUB/ca/root.crt")
[ "$code" = 200 ] && pass || fail "root.crt: $code"
check "root.crt is DER" openssl x509 -inform DER -in "$T/root.crt" -noout
grep -qi '^content-length: [0-9]' "$T/root.hdr" && pass ||
	fail "root.crt lacks Content-Length"
grep -qi '^transfer-encoding' "$T/root.hdr" && fail "root.crt is chunked" || pass
code=$(curl -sS -o /dev/null -w '%{http_code}' "$PUB/healthz")
[ "$code" = 200 ] && pass || fail "healthz: $code"
code=$(curl -sS -D "$T/404.hdr" -o "$T/404.out" -w '%{http_code}' "$PUB/no/such/thing")
[ "$code" = 404 ] && grep -qi '^content-type: text/plain' "$T/404.hdr" &&
	[ -s "$T/404.out" ] && pass || fail "unknown path: $code"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$TLS/no/such/thing")
[ "$code" = 404 ] && pass || fail "unknown TLS path: $code"

# Bodies over HTTP_BODY_MAX: 413 whether declared or chunked.
head -c 102400 /dev/zero >"$T/big.bin"
code=$("${CURL[@]}" -o "$T/413.out" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
	--data-binary @"$T/big.bin" "$TLS/.well-known/est/simpleenroll")
[ "$code" = 413 ] && pass || fail "100 KB body: $code"
code=$("${CURL[@]}" -o "$T/413c.out" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
	-H 'Transfer-Encoding: chunked' --data-binary @"$T/big.bin" \
	"$TLS/.well-known/est/simpleenroll")
[ "$code" = 413 ] && grep -q "limit" "$T/413c.out" && pass ||
	fail "100 KB chunked body: $code"

# A 20 KB header: refused by MHD, the worker lives on.
big=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$PUB/healthz")
case $code in 4??) pass ;; *) fail "20 KB header on plain HTTP: $code" ;; esac
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "X-Big: $big" \
	"$TLS/.well-known/est/cacerts")
case $code in 4??) pass ;; *) fail "20 KB header over TLS: $code" ;; esac

# TLS versions: 1.1 refused by the server (the client offers it; the
# server hangs up without an alert), 1.2 and 1.3 accepted.
echo | openssl s_client -connect "127.0.0.1:$P1" -tls1_1 \
	-cipher 'DEFAULT:@SECLEVEL=0' >"$T/tls11.out" 2>&1 &&
	fail "TLS 1.1 accepted" || {
	grep -qi "protocol version\|unsupported protocol\|unexpected eof" \
		"$T/tls11.out" && pass || {
		fail "TLS 1.1: unexpected failure"
		sed 's/^/    /' "$T/tls11.out" >&2
	}
}
for v in tls1_2 tls1_3; do
	echo | openssl s_client -connect "127.0.0.1:$P1" -"$v" \
		-CAfile "$D/ca/chain.pem" -verify_return_error \
		-servername localhost >"$T/$v.out" 2>&1 &&
		pass || fail "$v refused"
done
grep -q "Protocol  *: TLSv1.2" "$T/tls1_2.out" && pass || fail "no TLS 1.2 session"
# No resumption (tls-unique is unsafe across it, RFC 7030 §3.5): no ticket,
# and a reconnect with the session makes a new one.
grep -q "TLS session ticket:" "$T/tls1_2.out" &&
	fail "TLS 1.2 session ticket issued" || pass
for v in tls1_2 tls1_3; do
	echo | timeout 20 openssl s_client -connect "127.0.0.1:$P1" -"$v" \
		-reconnect >"$T/$v.resume" 2>&1
	grep -q "^New, TLSv" "$T/$v.resume" && ! grep -q "^Reused," "$T/$v.resume" &&
		pass || fail "$v: session resumed (or no connection)"
done

# TLS 1.3 key exchange in one round trip: a client with X25519 and P-256
# whose ClientHello carries an X25519 share (OpenSSL's default) gets no
# HelloRetryRequest (it would send a second ClientHello); one with only a
# P-256 share and no X25519 gets P-256, also without a retry; and a
# client offering only finite-field groups is refused.
for g in X25519:P-256=X25519 P-256=prime256v1; do
	echo | openssl s_client -connect "127.0.0.1:$P1" -tls1_3 \
		-groups "${g%=*}" -servername localhost -msg >"$T/groups.out" 2>&1
	n=$(grep -c '>>> .*ClientHello' "$T/groups.out")
	[ "$n" = 1 ] && grep -q "Server Temp Key: .*${g#*=}" "$T/groups.out" &&
		pass || fail "TLS 1.3 with groups ${g%=*}: $n ClientHellos," \
		"$(grep 'Server Temp Key' "$T/groups.out")"
done
echo | openssl s_client -connect "127.0.0.1:$P1" -tls1_3 -groups ffdhe2048 \
	-servername localhost >"$T/ffdhe.out" 2>&1 &&
	fail "TLS 1.3 with ffdhe2048 only accepted" || pass

# Keep-alive: 50 requests, one connection; Connection: close honoured.
urls=()
for i in $(seq 1 50); do urls+=(-o /dev/null "$TLS/.well-known/est/cacerts"); done
n=$("${CURL[@]}" -w '%{num_connects}\n' "${urls[@]}" |
	awk '{ s += $1 } END { print s }')
[ "$n" = 1 ] && pass || fail "50 TLS requests took $n connections"
urls=()
for i in $(seq 1 50); do urls+=(-o /dev/null "$PUB/healthz"); done
n=$(curl -sS -w '%{num_connects}\n' "${urls[@]}" |
	awk '{ s += $1 } END { print s }')
[ "$n" = 1 ] && pass || fail "50 plain requests took $n connections"
n=$(curl -sS -H 'Connection: close' -w '%{num_connects}\n' -o /dev/null \
	"$PUB/healthz" -o /dev/null "$PUB/healthz" -o /dev/null "$PUB/healthz" | awk '{ s += $1 } END { print s }')
[ "$n" = 3 ] && pass || fail "Connection: close: $n connections for 3 requests"
curl -sS -D "$T/close.hdr" -o /dev/null -H 'Connection: close' "$PUB/healthz"
grep -qi '^connection: close' "$T/close.hdr" && pass ||
	fail "no Connection: close in the response"

# Hostile clients: garbage instead of TLS, a client that hangs up in the
# middle of a body, plain HTTP sent to the TLS port.
before=$(workers $SERVE)
head -c 8192 /dev/urandom >"$T/garbage.bin"
for i in 1 2 3; do
	(exec 3<>"/dev/tcp/127.0.0.1/$P1" && cat "$T/garbage.bin" >&3) 2>/dev/null
	(exec 3<>"/dev/tcp/127.0.0.1/$P2" && cat "$T/garbage.bin" >&3) 2>/dev/null
	(exec 3<>"/dev/tcp/127.0.0.1/$P2" &&
		printf 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nabc' >&3) 2>/dev/null
	(exec 3<>"/dev/tcp/127.0.0.1/$P1" &&
		printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3) 2>/dev/null
	(printf 'POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nabc'; sleep 0.3) |
		timeout 5 openssl s_client -quiet -connect "127.0.0.1:$P1" >/dev/null 2>&1
done
sleep 0.5
[ "$(workers $SERVE)" = "$before" ] && pass || fail "a worker died on hostile input"
check "healthz after hostile input" healthy
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$TLS/.well-known/est/cacerts")
[ "$code" = 200 ] && pass || fail "cacerts after hostile input: $code"

# A worker killed with SIGKILL is replaced; service goes on.
victim=$(workers $SERVE | head -1)
kill -9 "$victim"
restarted() {
	local w
	w=$(workers $SERVE)
	[ "$(echo "$w" | wc -l)" = 2 ] && ! echo "$w" | grep -qx "$victim"
}
wait_until 15 restarted && pass || fail "killed worker not restarted"
wait_until 15 healthy && pass || fail "no service after a worker was killed"
grep -q "killed by signal 9" "$T/serve.err" && pass ||
	fail "supervisor did not log the killed worker"

# SIGHUP: every worker replaced (the reload logged complete).
before=$(workers $SERVE)
kill -HUP $SERVE
replaced() {
	local w
	w=$(workers $SERVE)
	[ "$(echo "$w" | wc -l)" = 2 ] &&
		[ -z "$(comm -12 <(echo "$before") <(echo "$w"))" ] &&
		grep -q "reload 1 complete" "$T/serve.err"
}
wait_until 30 replaced && pass || fail "SIGHUP did not replace the workers"
check "healthz after reload" healthy

# A slow client: half a request, then nothing. The idle timeout (30 s)
# ends it, and the worker lives on.
before=$(workers $SERVE)
(
	exec 3<>"/dev/tcp/127.0.0.1/$P2"
	printf 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab' >&3
	s=$(date +%s)
	timeout 60 cat <&3 >/dev/null
	echo $(($(date +%s) - s)) >"$T/slow.secs"
) &
SLOW=$!
wait_until 50 test -s "$T/slow.secs"
secs=$(cat "$T/slow.secs" 2>/dev/null || echo none)
case $secs in
[0-9]*) [ "$secs" -ge 25 ] && [ "$secs" -le 40 ] && pass ||
	fail "slow client cut off after $secs s, want about 30" ;;
*) fail "slow client not cut off" ;;
esac
kill $SLOW 2>/dev/null
wait $SLOW 2>/dev/null
[ "$(workers $SERVE)" = "$before" ] && pass || fail "a worker died on a slow client"

# SIGTERM: everything stops, status 0.
kill -TERM $SERVE
wait $SERVE
rc=$?
[ "$rc" = 0 ] && pass || fail "serve exited with $rc after SIGTERM"
left=$(pgrep -f -- "--data $D" || true)
[ -z "$left" ] && pass || fail "processes left after SIGTERM: $left"
check "stopped log line" grep -q "stopping" "$T/serve.err"

# IPv6 listeners, when the host has ::1.
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1'; then
	P3=$(free_port)
	USED_PORTS="$USED_PORTS $P3"
	P4=$(free_port)
	"$TESSERA_BIN" serve --data "$D" --listen "[::1]:$P3" --publish "[::1]:$P4" \
		--workers 1 >"$T/serve6.out" 2>"$T/serve6.err" &
	S6=$!
	cleanup_hooks+=("kill -TERM $S6 2>/dev/null; wait $S6 2>/dev/null")
	wait_until 60 curl -sf -g -o /dev/null "http://[::1]:$P4/healthz" &&
		pass || fail "IPv6 listener"
	kill -TERM $S6
	wait $S6 && pass || fail "IPv6 serve did not stop cleanly"
	cat "$T/serve6.err" >>"$T/serve.err"
fi

# A bad address, a wrong PIN: one clear line, quickly, non-zero.
refuse "bad listen address" "port" tessera serve --data "$D" --listen 127.0.0.1:99999
P5=$(free_port)
USED_PORTS="$USED_PORTS $P5"
P6=$(free_port)
start=$(date +%s)
TESSERA_HSM_PIN=wrong timeout 30 "$TESSERA_BIN" serve --data "$D" \
	--listen "127.0.0.1:$P5" --publish "127.0.0.1:$P6" \
	--workers 2 >"$T/pin.out" 2>&1
rc=$?
secs=$(($(date +%s) - start))
[ "$rc" != 0 ] && [ "$rc" != 124 ] && pass || fail "wrong PIN: exit status $rc"
[ "$secs" -le 10 ] && pass || fail "wrong PIN took $secs s"
n=$(grep -c '^tessera serve:' "$T/pin.out")
[ "$n" = 1 ] && grep -i '^tessera serve:.*pin' "$T/pin.out" >/dev/null && pass || {
	fail "wrong PIN: want one line naming the PIN"
	sed 's/^/    /' "$T/pin.out" >&2
}
[ -z "$(pgrep -f -- "--data $D" || true)" ] && pass ||
	fail "processes left after the wrong PIN"
cat "$T/pin.out" >>"$T/serve.err"

# Sanitizers (the ASan build): no report from any process.
if grep -E "Sanitizer|runtime error:" "$T/serve.err" >&2; then
	fail "sanitizer report in the server's stderr"
else pass; fi
finish
