# Shared by the integration tests: a fresh work directory, checks that keep
# going and a tally in the closing line ctest and CI read.
set -u
: "${TESSERA_BIN:?TESSERA_BIN must point at the tessera binary}"
: "${TESSERA_SOURCE:?TESSERA_SOURCE must point at the source tree}"
T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-it-XXXXXX")
PASSED=0
FAILED=0
cleanup_hooks=()
on_exit() {
	local h
	for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
	if [ "$FAILED" = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
}
trap on_exit EXIT

pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# check "description" command...: the command must succeed.
check() {
	local what=$1
	shift
	if "$@" >"$T/last.out" 2>&1; then pass; else
		fail "$what"; sed 's/^/    /' "$T/last.out" >&2; fi
}

# refuse "description" "expected text" command...: the command must fail
# and say the expected text on stderr or stdout.
refuse() {
	local what=$1 want=$2
	shift 2
	if "$@" >"$T/last.out" 2>&1; then
		fail "$what: succeeded"
	elif ! grep -qF -- "$want" "$T/last.out"; then
		fail "$what: message lacks '$want'"
		sed 's/^/    /' "$T/last.out" >&2
	else pass; fi
}

# mode_is FILE OCTAL
mode_is() { [ "$(stat -c %a "$1")" = "$2" ]; }

# An EC P-256 key and CSR: csr NAME SUBJECT [openssl -addext ...]
csr() {
	local name=$1 subj=$2
	shift 2
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$name.key" -subj "$subj" -out "$T/$name.csr" \
		"$@" 2>/dev/null
}

finish() {
	# A server started by start_server must not have hit a sanitizer.
	if [ -f "$T/serve.err" ] && grep -qE \
		'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/serve.err"; then
		fail "the server reported a sanitizer error:"
		grep -E -A20 'Sanitizer|runtime error:' "$T/serve.err" | head -40 >&2
	fi
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

# ---------------------------------------------------------------------------
# Servers (shared): free ports, starting and stopping `tessera serve`.
# Added with test_est.sh; test_serve.sh keeps its own helpers.

# pick_ports N: N distinct TCP ports in 20000-32767 (below the kernel's
# ephemeral range) that nothing listens on, space-separated.
pick_ports() {
	local n=$1 out=" " p i
	for i in $(seq 1 400); do
		[ "$n" -gt 0 ] || break
		p=$((20000 + RANDOM % 12768))
		case "$out" in *" $p "*) continue ;; esac
		[ -z "$(ss -ltnH "sport = :$p" 2>/dev/null)" ] || continue
		out="$out$p "
		n=$((n - 1))
	done
	[ "$n" = 0 ] || return 1
	echo $out
}

# wait_healthz PORT [SECONDS]: poll http://127.0.0.1:PORT/healthz until 200.
wait_healthz() {
	local n=$((${2:-30} * 10))
	while [ "$n" -gt 0 ]; do
		curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$1/healthz" &&
			return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# start_server DATA TLSPORT PUBPORT [WORKERS]: run tessera serve on
# 127.0.0.1 in the background, stdout and stderr appended to
# $T/serve.out and $T/serve.err; SERVER_PID is its pid; stopped at exit.
# Ready when the supervisor has logged "serving https://127.0.0.1:TLSPORT"
# (all workers up) and /healthz answers; fails if the server exits first
# or is not ready within 60 s.
SERVER_PID=
start_server() {
	local skip n=600
	touch "$T/serve.err"
	skip=$(($(wc -l <"$T/serve.err") + 1))
	"$TESSERA_BIN" serve --data "$1" --listen "127.0.0.1:$2" \
		--publish "127.0.0.1:$3" --workers "${4:-2}" \
		>>"$T/serve.out" 2>>"$T/serve.err" &
	SERVER_PID=$!
	cleanup_hooks+=("stop_server $SERVER_PID")
	while [ "$n" -gt 0 ]; do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "tessera serve exited during startup:" >&2
			tail -n +"$skip" "$T/serve.err" | grep -v ' info: ' |
				sed 's/^/    /' >&2
			return 1
		fi
		tail -n +"$skip" "$T/serve.err" |
			grep -qF "serving https://127.0.0.1:$2 " &&
			wait_healthz "$3" 1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# stop_server [PID]: SIGTERM and wait (default SERVER_PID).
stop_server() {
	local pid=${1:-$SERVER_PID}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	wait "$pid" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------------------
# Clients under load (test_crash, test_pgfailover, test_pgnodecrash,
# test_rollover): each test keeps its own loops (what they record and
# where they retry differ); these are the pieces they share. CURL (an
# array: curl and its options) is the caller's.

# post_rc OUT URL [curl args...]: POST with "${CURL[@]}"; body to OUT;
# prints "RC CODE" (curl's exit status and the HTTP status, 000 when no
# answer came).
post_rc() {
	local out=$1 url=$2 code rc
	shift 2
	code=$("${CURL[@]}" -o "$out" -w '%{http_code}' "$@" "$url" 2>/dev/null)
	rc=$?
	echo "$rc ${code:-000}"
}

# attempt_verdict RC CODE TRIES [CODE...]: what one try of an enrollment
# with a one-time secret came to, TRIES being the tries before it:
#   ok     200, the whole answer read;
#   retry  no answer, a cut-off answer, or one of the CODEs given;
#   used   401 after a try that was cut off: that try used the secret, so
#          it committed (its certificate is stored, never received);
#   bad    anything else.
attempt_verdict() {
	local rc=$1 code=$2 tries=$3 c
	shift 3
	if [ "$rc" = 0 ] && [ "$code" = 200 ]; then
		echo ok
		return
	fi
	[ "$code" = 000 ] || [ "$rc" != 0 ] && { echo retry; return; }
	for c; do
		[ "$code" = "$c" ] && { echo retry; return; }
	done
	[ "$code" = 401 ] && [ "$tries" -gt 0 ] && { echo used; return; }
	echo bad
}

# cert_fields P7: "SERIAL SHA256 CN" of the certificate in the base64
# certs-only PKCS#7 P7 (SHA256 in hex as openssl prints it, without the
# colons); fails when P7 holds none.
cert_fields() {
	local info serial fp cn
	info=$(base64 -d "$1" 2>/dev/null | openssl pkcs7 -inform DER \
		-print_certs 2>/dev/null | openssl x509 -noout -serial -fingerprint \
		-sha256 -subject -nameopt RFC2253 2>/dev/null) || return 1
	serial=$(sed -n 's/^serial=//p' <<<"$info")
	fp=$(sed -n 's/^sha256 Fingerprint=//Ip' <<<"$info" | tr -d ':')
	cn=$(sed -n 's/^subject=CN=\([^,]*\).*/\1/p' <<<"$info")
	[ -n "$serial" ] && [ -n "$fp" ] && [ -n "$cn" ] || return 1
	echo "$serial $fp $cn"
}

# mint_clients URL PREFIX COUNT NAME...: for each NAME, COUNT one-time
# secrets minted through the admin API at URL (POST enrollment-secrets,
# "${ADM[@]}" and "${JS[@]}" the caller's), 100 per connection, for the
# devices PREFIXNAME-0001...: lines "DEVICE SECRET" in $C/NAME.secrets
# (checked: COUNT of them); and an EC P-256 key in $C/NAME.key.
mint_clients() {
	local url=$1 prefix=$2 count=$3 name args i
	shift 3
	for name in "$@"; do
		args=()
		for i in $(seq -f '%04g' 1 "$count"); do
			[ ${#args[@]} = 0 ] || args+=(--next)
			args+=("${CURL[@]:1}" "${ADM[@]}" "${JS[@]}" -w '\n'
				-d "{\"device\": \"$prefix$name-$i\", \"ttl\": 3600}" "$url")
		done
		curl "${args[@]}" 2>/dev/null | python3 -c '
import json, sys
for l in sys.stdin:
    if l.strip():
        j = json.loads(l)
        print(j["device"], j["secret"])' >"$C/$name.secrets"
		[ "$(wc -l <"$C/$name.secrets")" = "$count" ] && pass ||
			fail "minted $(wc -l <"$C/$name.secrets") secrets for $name, want $count"
		openssl ecparam -name prime256v1 -genkey -noout -out "$C/$name.key" 2>/dev/null
	done
}

# header FILE NAME: the value of header NAME in FILE (curl -D), the last
# one when there are several.
header() { tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | tail -1; }

# wait_cmd SECONDS CMD...: run CMD every 0.1 s until it succeeds, for at
# most SECONDS.
wait_cmd() {
	local _left=$(($1 * 10))
	shift
	while [ "$_left" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		_left=$((_left - 1))
	done
	return 1
}

# wait_expr SECONDS 'CONDITION': poll every 0.1 s until CONDITION (a shell
# expression, evaluated each time) holds.
wait_expr() { wait_cmd "$1" eval "$2"; }

# check_received RECEIVED STORED: every "SERIAL SHA256" line of RECEIVED
# (what clients received, sorted) is in STORED (the store's, sorted, the
# SHA256 in the same case), and no serial stands twice in RECEIVED. Sets
# lost (how many are not in the store).
check_received() {
	local dup
	lost=$(comm -23 "$1" "$2" | wc -l)
	[ "$lost" = 0 ] && pass || {
		fail "$lost certificates clients received are not in the store (or differ):"
		comm -23 "$1" "$2" | head -5 | sed 's/^/    /' >&2
	}
	dup=$(awk '{ print $1 }' "$1" | sort | uniq -d | head -3)
	[ -z "$dup" ] && pass || fail "one serial handed out twice: $dup"
}

# Client loops run in the background until the file $C/stop appears.
# client CMD...: runs CMD in the background, its pid added to CLIENTS;
# is_stopping: whether $C/stop is there; stop_clients: makes it and kills
# the clients (a test adds it to cleanup_hooks once they run).
CLIENTS=()
client() {
	"$@" &
	CLIENTS+=($!)
}
is_stopping() { [ -e "$C/stop" ]; }
stop_clients() {
	local p
	touch "$C/stop"
	for p in "${CLIENTS[@]}"; do kill "$p" 2>/dev/null; done
}

# nginx_conf_head DIR: the start of an nginx.conf for nginx run by a test
# in DIR (its pid, logs and temporary files there; as root, workers stay
# root to read the test's files), up to and with "http {"; the caller
# writes its servers and the closing brace.
nginx_conf_head() {
	mkdir -p "$1/tmp"
	[ "$(id -u)" = 0 ] && echo "user root root;"
	cat <<EOF
daemon off;
worker_processes 1;
error_log $1/error.log info;
pid $1/nginx.pid;
events { worker_connections 64; }
http {
	access_log $1/access.log;
	client_body_temp_path $1/tmp/body;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fastcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	default_type text/plain;
EOF
}

# nginx_gateway_conf DIR DATA CRLPORT OCSPPORT RESPONDER: DIR/nginx.conf
# for nginx as a device gateway admitting tessera's (DATA) client
# certificates: on CRLPORT by the CRLs (DIR/crl.pem, a copy of
# DATA/crl/crl-chain.pem: nginx checks a CRL for every CA of the chain;
# copy it again and reload after a publish), on OCSPPORT by the leaf's
# status from RESPONDER (an OCSP URL), not cached.
nginx_gateway_conf() {
	cp "$2/crl/crl-chain.pem" "$1/crl.pem"
	{
		nginx_conf_head "$1"
		cat <<EOF
	ssl_certificate $2/tls/server.pem;
	ssl_certificate_key $2/tls/server.key;
	ssl_verify_client on;
	ssl_client_certificate $2/ca/chain.pem;
	ssl_verify_depth 2;
	server {
		listen 127.0.0.1:$3 ssl;
		server_name localhost;
		ssl_crl $1/crl.pem;
		location / { return 200 "admitted\n"; }
	}
	server {
		listen 127.0.0.1:$4 ssl;
		server_name localhost;
		ssl_ocsp leaf;
		ssl_ocsp_responder $5;
		ssl_ocsp_cache off;
		location / { return 200 "admitted\n"; }
	}
}
EOF
	} >"$1/nginx.conf"
}

# privhex KEYFILE: the private scalar (EC priv, RSA privateExponent), hex,
# as the key's DER holds it: an EC scalar at the curve's full width (one
# key in 256 has a leading zero byte, which a printed number drops), an
# RSA exponent as its INTEGER's minimal bytes.
privhex() {
	python3 - "$1" <<'PY' 2>/dev/null
import sys
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
key = load_pem_private_key(open(sys.argv[1], "rb").read(), None)
n = key.private_numbers()
if isinstance(key, ec.EllipticCurvePrivateKey):
    v, width = n.private_value, (key.curve.key_size + 7) // 8
else:
    v = n.d
    width = (v.bit_length() + 7) // 8
print(v.to_bytes(width, "big").hex(), end="")
PY
}
