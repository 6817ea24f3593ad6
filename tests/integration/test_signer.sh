# The signer process under `tessera serve`: the only process with the
# token and the PIN. Its workers load no PKCS#11 module and hold no PIN;
# killed with SIGKILL, signing answers 503 naming the signer while what is
# already signed keeps being served (cacerts, CRL, stored OCSP, JWKS); the
# supervisor restarts it and signing works again.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }

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
# The PIN from the environment, as production gives it: then it must be
# found in no process but the signer.
PIN=$(cat "$D/hsm/user.pin")
export TESSERA_HSM_PIN=$PIN
# Sockets a killed serve left behind are removed at the next start.
python3 -c 'import socket, sys
for p in sys.argv[1:]:
    socket.socket(socket.AF_UNIX).bind(p)' "$D/signer-7.sock" "$D/signer-7.sock.99" \
	"$D/signer.sock"
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come up"
	finish
	exit
fi
unset TESSERA_HSM_PIN
pass
check "a killed serve's signer sockets are removed at the start" test ! -e \
	"$D/signer-7.sock" -a ! -e "$D/signer-7.sock.99" -a ! -e "$D/signer.sock"

workers() { pgrep -x tessera -P "$SERVER_PID" | sort; }
# pin_in_memory PID: how often the PIN's bytes stand in PID's readable
# memory (every mapping, read through /proc/PID/mem, but those over 1 GiB:
# a sanitizer build's shadow, reserved and never written). A sanitizer
# build's runtime keeps a copy of the environment the process started
# with, out of tessera's reach: there "TESSERA_HSM_PIN=PIN" is not
# counted.
SANITIZED=0
grep -q '^TESSERA_SANITIZE:BOOL=ON' "$TESSERA_BUILD/CMakeCache.txt" 2>/dev/null &&
	SANITIZED=1
pin_in_memory() {
	python3 - "$1" "$PIN" "$SANITIZED" <<'PY'
import re, sys
pid, pin, sanitized = sys.argv[1], sys.argv[2].encode(), sys.argv[3] == "1"
hits = 0
def count(data):
    n, i = 0, data.find(pin)
    while i >= 0:
        if not (sanitized and data[max(0, i - 16):i] == b"TESSERA_HSM_PIN="):
            n += 1
        i = data.find(pin, i + 1)
    return n
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        lo, hi, perms = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line).groups()
        if (perms[0] != "r" or "[vvar" in line or "[vsyscall]" in line
                or int(hi, 16) - int(lo, 16) > 1 << 30):
            continue
        try:
            mem.seek(int(lo, 16))
            hits += count(mem.read(int(hi, 16) - int(lo, 16)))
        except (OSError, ValueError, OverflowError):
            continue
print(hits)
PY
}
signer() { pgrep -x tessera-signer -P "$SERVER_PID"; }

enroll() { # NAME DEVICE: prints the HTTP code; body in $T/NAME.p7
	local s
	csr "$1" "/CN=$2" -addext "subjectAltName=URI:urn:dev:$2"
	s=$(tessera secret --data "$D" --device "$2" 2>/dev/null | tail -1)
	openssl req -in "$T/$1.csr" -outform DER 2>/dev/null | base64 -w0 |
		"${CURL[@]}" -o "$T/$1.p7" -w '%{http_code}' -u "$2:$s" \
			-H 'Content-Type: application/pkcs10' --data-binary @- \
			"$URL/.well-known/est/simpleenroll"
	base64 -d "$T/$1.p7" 2>/dev/null | openssl pkcs7 -inform DER \
		-print_certs 2>/dev/null | openssl x509 -out "$T/$1.pem" 2>/dev/null
}
token() { # NAME: prints the HTTP code; body in $T/NAME.json
	"${CURL[@]}" -o "$T/$1.json" -w '%{http_code}' --cert "$T/dev.pem" \
		--key "$T/dev.key" -d grant_type=client_credentials "$URL/token"
}
ocsp_good() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/dev.pem" \
		-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -no_nonce 2>&1 |
		grep -q 'dev.pem: good'
}

W=$(workers)
S0=$(signer)
check "two workers and one signer ($W / $S0)" test "$(echo "$W" | wc -l)" = 2 -a -n "$S0"
check "enroll" test "$(enroll dev device-0001)" = 200
check "a token" test "$(token tok0)" = 200
check "OCSP answers good (now stored)" ocsp_good

# Only the signer loads the PKCS#11 module and holds the PIN.
softhsm=/usr/lib/softhsm/libsofthsm2.so
check "the signer maps the PKCS#11 module" grep -qF libsofthsm2 "/proc/$S0/maps"
for w in $W; do
	check "worker $w maps no PKCS#11 module" \
		bash -c "! grep -qF libsofthsm2 /proc/$w/maps"
	check "worker $w has no PIN in its environment" \
		bash -c "! tr '\\0' '\\n' </proc/$w/environ | grep -qF -- '$PIN'"
	check "worker $w has no open file in the token directory" \
		bash -c "! ls -l /proc/$w/fd 2>/dev/null | grep -qF '$D/hsm/'"
	check "worker $w holds the PIN nowhere in its memory" \
		test "$(pin_in_memory "$w")" = 0
done
# The scan finds it where it is: the signer holds it (and the supervisor,
# which starts the signer again after a crash).
n=$(pin_in_memory "$S0")
[ "$n" -ge 1 ] 2>/dev/null && pass || fail "no PIN found in the signer's memory ($n): the scan reads nothing"
# Nor can a worker open the PIN files, the token, or the admin's key: it is
# confined (Landlock) before its first network thread. Every thread of it
# tries, through gdb (one attach a process: each -ex prints a line a
# thread, "-1" for a refused open); the store and the CRLs stay open to it.
# at_sp STRING: a gdb expression that writes STRING below the thread's stack
# pointer. A string literal in a gdb call is copied into the process with
# its malloc, which the leak checker of a sanitizer build then reports.
at_sp() { printf '{char[%d]}($sp - 4096) = "%s"' $((${#1} + 1)) "$1"; }
probe() { # PID PATH...: per PATH one line, the open()s' results of all threads
	local pid=$1 f args=()
	shift
	for f in "$@"; do
		args+=(-ex "echo @@\\n" -ex "thread apply all print ($(at_sp "$f"), (int)open((char *)(\$sp - 4096), 0))")
	done
	timeout -s KILL 120 gdb -p "$pid" -batch "${args[@]}" 2>/dev/null |
		sed -n -e 's/^@@$/@@/p' -e 's/^\$[0-9]* = //p' |
		awk '/^@@$/ { if (n++) print line; line = ""; next } { line = line " " $0 } END { print line }'
}
all_denied() { [ -n "$1" ] && ! echo "$1" | tr ' ' '\n' | grep -v '^$' | grep -qv '^-1$'; }
all_open() { [ -n "$1" ] && ! echo "$1" | tr ' ' '\n' | grep -q '^-1$'; }
token_file=$(find "$D/hsm/tokens" -type f | head -1)
denied=("$D/hsm/user.pin" "$D/hsm/so.pin" "$token_file" "$D/admin/admin.key")
allowed=("$D/tessera.db" "$D/crl/issuing.crl" "$D/ca/chain.pem")
for w in $W; do
	mapfile -t got < <(probe "$w" "${denied[@]}" "${allowed[@]}")
	i=0
	for f in "${denied[@]}"; do
		check "worker $w: no thread can open ${f#"$D"/} (${got[$i]})" all_denied "${got[$i]}"
		i=$((i + 1))
	done
	for f in "${allowed[@]}"; do
		check "worker $w: every thread can open ${f#"$D"/} (${got[$i]})" all_open "${got[$i]}"
		i=$((i + 1))
	done
	check "worker $w: cannot run a program" bash -c "timeout -s KILL 60 gdb -p $w -batch \
		-ex 'print ({char[10]}(\$sp - 4096) = \"/bin/true\", (int)execve((char *)(\$sp - 4096), 0, 0))' 2>/dev/null | grep -q '= -1\$'"
done
mapfile -t got < <(probe "$S0" "$token_file")
check "the signer can open its token (${got[0]})" all_open "${got[0]}"
check "the supervisor has no PIN in its environment" \
	bash -c "! tr '\\0' '\\n' </proc/$SERVER_PID/environ | grep -qF -- '$PIN'"
check "the signer socket is the user's alone (0600)" mode_is "$D/signer-1.sock" 600

# The supervisor is held (SIGSTOP) so that it restarts nothing while the
# outage is looked at; the workers go on serving.
kill -STOP "$SERVER_PID"
kill -KILL "$S0"
for i in $(seq 1 100); do kill -0 "$S0" 2>/dev/null || break; sleep 0.05; done
code=$(enroll dev2 device-0002)
check "enroll answers 503 without the signer ($code)" test "$code" = 503
check "the enrollment's 503 names the signer" grep -q 'signer is unavailable' "$T/dev2.p7"
code=$(token tok1)
check "a token answers 503 without the signer ($code)" test "$code" = 503
check "the token's 503 names the signer" grep -q 'signer is unavailable' "$T/tok1.json"
check "cacerts still served" "${CURL[@]}" -f -o /dev/null "$URL/.well-known/est/cacerts"
check "the CRL still served" bash -c "curl -sSf '$PUB/crl/issuing.crl' | openssl crl -inform DER -noout"
check "stored OCSP still served" ocsp_good
check "the JWKS still served" bash -c "curl -sSf '$PUB/.well-known/jwks.json' | grep -q '\"kty\":\"EC\"'"
code=$(curl -sS -o "$T/health.json" -w '%{http_code}' "$PUB/healthz")
check "healthz says the signer is away ($code)" test "$code" = 503
check "the same workers served the outage" test "$(workers)" = "$W"

# Let the supervisor go: it reaps the signer and starts another.
kill -CONT "$SERVER_PID"
S1=
for i in $(seq 1 300); do
	S1=$(signer)
	[ -n "$S1" ] && [ "$S1" != "$S0" ] && break
	sleep 0.1
done
check "the supervisor restarted the signer ($S0 -> $S1)" test -n "$S1" -a "$S1" != "$S0"
code=
for i in $(seq 1 100); do
	code=$(enroll dev3 device-0003)
	[ "$code" = 200 ] && break
	sleep 0.2
done
check "enroll succeeds again ($code)" test "$code" = 200
check "the new certificate verifies" openssl verify -CAfile "$D/ca/chain.pem" "$T/dev3.pem"
check "tokens again" test "$(token tok2)" = 200
check "the log names the signer's death and restart" \
	grep -qE "the signer \\($S0\\) killed by signal 9: restarting it" "$T/serve.err"
check "no worker was restarted" test "$(workers)" = "$W"

# A reload starts a new signer beside the serving one (the CA
# certificates may have changed), on a socket of its own; the new workers
# sign through it, and the old one stops once the old workers are gone.
kill -HUP "$SERVER_PID"
S2=
for i in $(seq 1 300); do
	S2=$(signer)
	[ -n "$S2" ] && [ "$S2" != "$S1" ] && [ "$(echo "$S2" | wc -l)" = 1 ] && break
	sleep 0.1
done
check "a reload replaced the signer ($S1 -> $S2)" test -n "$S2" -a "$S2" != "$S1" -a "$(echo "$S2" | wc -l)" = 1
check "the log says the new signer serves" grep -q 'the signer serves (reloaded)' "$T/serve.err"
code=
for i in $(seq 1 100); do
	code=$(enroll dev4 device-0004)
	[ "$code" = 200 ] && break
	sleep 0.2
done
check "enroll after the reload ($code)" test "$code" = 200
check "the reload's signer has a socket of its own (0600)" mode_is \
	"$D/signer-2.sock" 600
check "the old signer's socket is removed" test ! -e "$D/signer-1.sock"

# A PIN file a confined worker could still read (here under /var/tmp,
# which workers may write) stops serve with a message naming it.
stop_server
PINF=$(mktemp /var/tmp/tessera-pin.XXXXXX)
cleanup_hooks+=("rm -f $PINF")
cp "$D/hsm/user.pin" "$PINF"
python3 - "$D/tessera.json" "$PINF" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["hsm"]["pin_file"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
refuse "serve with a PIN file that workers could read" \
	"can still be read from a confined worker" start_server "$D" "$P1" "$P2" 1
check "the log names the PIN file and why" \
	grep -qF "the PIN file $PINF can still be read from a confined worker" "$T/serve.err"
finish
