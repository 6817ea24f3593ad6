#!/usr/bin/env bash
# bench/soak.sh [SECONDS]: a bounded mixed-load run of tessera for SECONDS
# (default 600) that must end with zero errors and flat memory and file
# descriptors. Not a test; ctest never runs it.
#
# Builds (TESSERA_BUILD_DIR, default build/), makes a fresh data directory
# under /tmp, starts `tessera serve` (SOAK_WORKERS, default one per core;
# the per-address rate limits off, as every request comes from one
# address) and runs at once, each in a loop:
#   enroll    simpleenroll with one-time secrets minted through the API
#   reenroll  simplereenroll over mutual TLS with the last certificate
#   token     POST /token with a device certificate (when it is not 404)
#   ocsp      nonce-less GET and POST (pre-signed), POST with a nonce (signed
#             online), for a good and a revoked certificate; every answer
#             verified with openssl
#   crl       the issuing and root CRLs, verified, and conditional GETs
#   admin     secrets minted, certificates and devices revoked (devices
#             reinstated), inventory, feed and audit pages
# Every 10 s it samples the supervisor and workers: VmRSS and RssAnon
# summed, open file descriptors (/proc/PID/fd) summed, the WAL's size; into
# a CSV (SOAK_CSV, default /tmp/tessera-soak-DATE.csv). At the end it
# prints the operations and errors per kind, RSS and fds after the warm-up
# (a fifth of the run, at most 60 s) and at the end, and exits 1 on any
# error, a worker restarted, RSS grown by more than 20 % or fds by more
# than the clients' connections after the warm-up, or an audit chain that
# does not verify.
secs=${1:-600}
. "$(dirname "$0")/lib.sh"
set +e # every failure is counted, none stops the run
workers=${SOAK_WORKERS:-$(nproc)}
csv=${SOAK_CSV:-/tmp/tessera-soak-$(date -u +%Y%m%dT%H%M%SZ).csv}
warm=$((secs / 5 < 60 ? secs / 5 : 60))
LOOPS=()
bench_stop() {
	local p
	touch "$W/stop"
	for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; done
}
die() {
	echo "soak: $*" >&2
	[ -f "$W/serve.err" ] && grep -v ' info: ' "$W/serve.err" | tail -5 >&2
	exit 1
}

P1=$(free_port) || die "no free port"
P2=$(free_port "$P1") || die "no free port"
D=$W/var
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 30 --cacert "$D/ca/chain.pem")
CT=(-H 'Content-Type: application/pkcs10')
JS=(-H 'Content-Type: application/json')
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")

echo "== setup (data directory $D, $workers workers, $secs s, warm-up $warm s)"
"$TESSERA" init --data "$D" --name "Soak" --publish-url "$PUB" \
	>"$W/init.out" 2>&1 || die "init failed: $(tail -3 "$W/init.out")"
no_rate_limits "$D"
serve_start "$D" "$P1" "$P2" "$workers" || die "tessera serve did not start"

# --- helpers ----------------------------------------------------------------
running() { [ ! -e "$W/stop" ]; }
# count OP ok|err [DETAIL]: one line per operation, in a file of each
# loop's own ($W/OP.PID.count).
count() { echo "$2${3:+ $3}" >>"$W/$1.$BASHPID.count"; }
# est NAME URL [curl args...]: POST a CSR; prints the HTTP code; the
# certificate's serial in $W/NAME.serial and PEM in $W/NAME.pem on 200.
est() {
	local name=$1 url=$2 code
	shift 2
	code=$("${CURL[@]}" -o "$W/$name.out" -w '%{http_code}' "${CT[@]}" "$@" "$url" \
		2>"$W/$name.curl") || code="curl $(head -c 120 "$W/$name.curl")"
	if [ "$code" = 200 ] &&
		base64 -d "$W/$name.out" 2>/dev/null | openssl pkcs7 -inform DER \
			-print_certs 2>/dev/null | openssl x509 -out "$W/$name.pem" 2>/dev/null; then
		openssl x509 -in "$W/$name.pem" -noout -serial | cut -d= -f2 >"$W/$name.serial"
		echo 200
	else
		echo "$code $(head -c 120 "$W/$name.out" 2>/dev/null | tr -d '\0\r\n')"
	fi
}
# mint DEVICE...: a secret for each over one connection; "DEVICE SECRET"
# lines.
mint() {
	local args=() dev
	for dev in "$@"; do
		[ ${#args[@]} = 0 ] || args+=(--next)
		args+=(-sS --max-time 30 --cacert "$D/ca/chain.pem" "${ADM[@]}" "${JS[@]}"
			-w '\n' -d "{\"device\": \"$dev\"}" "$API/enrollment-secrets")
	done
	curl "${args[@]}" 2>/dev/null | python3 -c '
import json, sys
for l in sys.stdin:
    try:
        j = json.loads(l)
        print(j["device"], j["secret"])
    except Exception:
        pass'
}
# enroll_one NAME DEVICE: a fresh key and certificate for DEVICE (setup).
enroll_one() {
	local s
	openssl ecparam -name prime256v1 -genkey -noout -out "$W/$1.key" 2>/dev/null
	openssl req -new -key "$W/$1.key" -subj "/CN=$2" -outform DER 2>/dev/null |
		base64 -w0 >"$W/$1.csr"
	s=$(mint "$2" | awk '{ print $2 }')
	[ "$(est "$1" "$EST/simpleenroll" -u "$2:$s" \
		--data-binary @"$W/$1.csr")" = 200 ]
}

# --- loops ------------------------------------------------------------------
enroll_loop() {
	local dev sec r batch=0
	openssl ecparam -name prime256v1 -genkey -noout -out "$W/enroll.key" 2>/dev/null
	while running; do
		batch=$((batch + 1))
		mint $(seq -f "soak-e-$batch-%g" 1 10) >"$W/enroll.secrets"
		r=$(wc -l <"$W/enroll.secrets")
		for _ in $(seq 1 "$r"); do count admin ok; done
		[ "$r" = 10 ] || count admin err "minted $r of 10 secrets"
		while read -r dev sec && running; do
			openssl req -new -key "$W/enroll.key" -subj "/CN=$dev" -outform DER \
				2>/dev/null | base64 -w0 >"$W/enroll.csr"
			r=$(est enroll "$EST/simpleenroll" -u "$dev:$sec" \
				--data-binary @"$W/enroll.csr")
			if [ "$r" = 200 ]; then
				count enroll ok
				echo "$(cat "$W/enroll.serial") $dev" >>"$W/enrolled"
			else
				count enroll err "$dev: $r"
			fi
		done <"$W/enroll.secrets"
	done
}
reenroll_loop() {
	local r
	while running; do
		r=$(est renew "$EST/simplereenroll" --cert "$W/dev-r.pem" \
			--key "$W/dev-r.key" --data-binary @"$W/dev-r.csr")
		if [ "$r" = 200 ]; then
			count reenroll ok
			mv "$W/renew.pem" "$W/dev-r.pem"
		else
			count reenroll err "$r"
		fi
	done
}
token_loop() {
	local code
	while running; do
		code=$("${CURL[@]}" -o "$W/token.out" -w '%{http_code}' \
			--cert "$W/dev-t.pem" --key "$W/dev-t.key" \
			-d grant_type=client_credentials "https://localhost:$P1/token" 2>&1)
		if [ "$code" = 200 ] && grep -qE \
			'[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{40,}' "$W/token.out"; then
			count token ok
		else
			count token err "$code $(head -c 120 "$W/token.out" 2>/dev/null)"
		fi
	done
}
# ocsp_check NAME STATUS SERIAL: the response in $W/NAME.resp verifies and
# says STATUS for SERIAL.
ocsp_check() {
	openssl ocsp -respin "$W/$1.resp" -issuer "$D/ca/issuing.pem" \
		-CAfile "$D/ca/chain.pem" -serial "0x$3" -no_nonce >"$W/$1.txt" 2>&1 &&
		grep -qx "0x$3: $2" "$W/$1.txt" && grep -qx "Response verify OK" "$W/$1.txt"
}
ocsp_loop() {
	local i=0 code
	while running; do
		i=$((i + 1))
		case $((i % 3)) in
		0) # nonce-less GET (RFC 5019), the good certificate
			code=$(curl -sS --max-time 30 -o "$W/ocsp.resp" -w '%{http_code}' \
				"$PUB/ocsp/$OCSP_GET" 2>&1)
			[ "$code" = 200 ] && ocsp_check ocsp good "$SER_GOOD" && count ocsp ok ||
				count ocsp err "GET: $code $(head -3 "$W/ocsp.txt" 2>/dev/null | tr '\n' ' ')"
			;;
		1) # nonce-less POST, the revoked certificate
			code=$(curl -sS --max-time 30 -o "$W/ocsp.resp" -w '%{http_code}' \
				-H 'Content-Type: application/ocsp-request' \
				--data-binary @"$W/revoked.req" "$PUB/ocsp" 2>&1)
			[ "$code" = 200 ] && ocsp_check ocsp revoked "$SER_REVOKED" &&
				count ocsp ok ||
				count ocsp err "POST: $code $(head -3 "$W/ocsp.txt" 2>/dev/null | tr '\n' ' ')"
			;;
		2) # POST with a fresh nonce: signed online, nonce checked
			if openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$W/dev-t.pem" \
				-url "$PUB/ocsp" -CAfile "$D/ca/chain.pem" -timeout 30 \
				>"$W/ocsp.txt" 2>&1 && grep -qx "$W/dev-t.pem: good" "$W/ocsp.txt" &&
				grep -qx "Response verify OK" "$W/ocsp.txt" &&
				! grep -qi warning "$W/ocsp.txt"; then
				count ocsp ok
			else
				count ocsp err "nonce: $(head -3 "$W/ocsp.txt" | tr '\n' ' ')"
			fi
			;;
		esac
	done
}
crl_loop() {
	local i=0 name code etag=
	while running; do
		i=$((i + 1))
		name=issuing
		[ $((i % 4)) = 0 ] && name=root
		code=$(curl -sS --max-time 30 -D "$W/crl.hdr" -o "$W/crl.der" \
			-w '%{http_code}' "$PUB/crl/$name.crl" 2>&1)
		if [ "$code" = 200 ] && openssl crl -inform DER -in "$W/crl.der" \
			-CAfile "$D/ca/chain.pem" -noout 2>&1 | grep -qx 'verify OK'; then
			count crl ok
		else
			count crl err "$name: $code"
		fi
		etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$W/crl.hdr" | tr -d '\r')
		if [ -n "$etag" ]; then
			code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' \
				-H "If-None-Match: $etag" "$PUB/crl/$name.crl" 2>&1)
			# 200 when the CRL changed in between.
			case $code in 200 | 304) count crl ok ;; *) count crl err "$name conditional: $code" ;; esac
		fi
		sleep 0.2
	done
}
# api WHAT METHOD PATH [curl args...]: one admin call, counted; 2xx is ok.
api() {
	local what=$1 method=$2 path=$3 code
	shift 3
	code=$("${CURL[@]}" "${ADM[@]}" -X "$method" -o "$W/admin.out" \
		-w '%{http_code}' "$@" "$API/$path" 2>&1)
	case $code in
	2??) count admin ok ;;
	*) count admin err "$what: $code $(head -c 160 "$W/admin.out" 2>/dev/null)" ;;
	esac
}
admin_loop() {
	local i=0 done_n=0 serial dev seq
	while running; do
		i=$((i + 1))
		# Revoke one certificate of every two enrolled; every 10th a whole
		# device, reinstated at once.
		if [ -f "$W/enrolled" ] && [ "$(wc -l <"$W/enrolled")" -gt $((done_n + 1)) ]; then
			done_n=$((done_n + 2))
			read -r serial dev < <(sed -n "${done_n}p" "$W/enrolled")
			if [ $((i % 10)) = 0 ]; then
				api "device revoke" POST "devices/$dev/revoke" "${JS[@]}" \
					-d '{"reason": "cessationOfOperation"}'
				api "device reinstate" POST "devices/$dev/reinstate" "${JS[@]}" -d '{}'
			else
				api "revoke" POST "certificates/$serial/revoke" "${JS[@]}" \
					-d '{"reason": "keyCompromise"}'
			fi
		fi
		api inventory GET "certificates?status=revoked&limit=20"
		seq=$(grep -o '"last_seq": *[0-9]*' "$W/admin.feed" 2>/dev/null | grep -o '[0-9]*$')
		api feed GET "revocations?since=${seq:-0}&limit=100"
		cp "$W/admin.out" "$W/admin.feed" 2>/dev/null
		api audit GET "audit?since=$((RANDOM % 100))&limit=50"
		api device GET "devices/$DEV_T"
		sleep 0.1
	done
}

# --- the devices the loops use --------------------------------------------------
enroll_one dev-r soak-r || die "enrolling the renewing device failed"
openssl req -new -key "$W/dev-r.key" -subj "/CN=soak-r" -outform DER 2>/dev/null |
	base64 -w0 >"$W/dev-r.csr"
enroll_one dev-t soak-t || die "enrolling the token device failed"
DEV_T=soak-t
SER_GOOD=$(cat "$W/dev-t.serial")
enroll_one dev-x soak-x || die "enrolling the revoked device failed"
SER_REVOKED=$(cat "$W/dev-x.serial")
code=$("${CURL[@]}" "${ADM[@]}" "${JS[@]}" -o /dev/null -w '%{http_code}' \
	-d '{"reason": "keyCompromise"}' "$API/certificates/$SER_REVOKED/revoke")
[ "$code" = 200 ] || die "revoking $SER_REVOKED: HTTP $code"
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$W/dev-t.pem" -no_nonce \
	-reqout "$W/good.req" >/dev/null 2>&1
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$W/dev-x.pem" -no_nonce \
	-reqout "$W/revoked.req" >/dev/null 2>&1
OCSP_GET=$(base64 -w0 "$W/good.req" | sed 's/+/%2B/g; s,/,%2F,g; s/=/%3D/g')
TOKEN_PROBE=$("${CURL[@]}" -o /dev/null -w '%{http_code}' --cert "$W/dev-t.pem" \
	--key "$W/dev-t.key" -d grant_type=client_credentials "https://localhost:$P1/token")
ops=(enroll reenroll ocsp crl admin)
[ "$TOKEN_PROBE" = 404 ] || ops=(enroll reenroll token ocsp crl admin)

# --- the run --------------------------------------------------------------------
for op in "${ops[@]}"; do
	"${op}_loop" &
	LOOPS+=($!)
done
nclients=${#ops[@]}
# sample: "pids rss_kb anon_kb fds" over the supervisor and its workers.
sample() {
	local pids p rss=0 anon=0 fds=0 v
	pids="$SERVE $(pgrep -P "$SERVE" | sort -n | tr '\n' ' ')"
	for p in $pids; do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		rss=$((rss + ${v:-0}))
		v=$(awk '/^RssAnon:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		anon=$((anon + ${v:-0}))
		v=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		fds=$((fds + v))
	done
	echo "$(tr ' ' '+' <<<"${pids% }") $rss $anon $fds"
}
total_ops() { cat "$W"/*.count 2>/dev/null | wc -l; }
total_errs() { cat "$W"/*.count 2>/dev/null | grep -c '^err'; }
echo "t_s,pids,rss_kb,rss_anon_kb,fds,wal_kb,ops,errors" >"$csv"
start=$SECONDS
base_rss='' base_anon='' base_fds='' pids0='' restarts=0
t=0
while :; do
	read -r pids rss anon fds <<<"$(sample)"
	wal=$(($(stat -c %s "$D/tessera.db-wal" 2>/dev/null || echo 0) / 1024))
	echo "$t,$pids,$rss,$anon,$fds,$wal,$(total_ops),$(total_errs)" >>"$csv"
	printf '  %4ds  rss %6d kB (anon %6d kB)  fds %4d  wal %6d kB  ops %7d  errors %d\n' \
		"$t" "$rss" "$anon" "$fds" "$wal" "$(total_ops)" "$(total_errs)"
	[ -n "$pids0" ] || pids0=$pids
	[ "$pids" = "$pids0" ] || restarts=$((restarts + 1))
	if [ -z "$base_rss" ] && [ "$t" -ge "$warm" ]; then
		base_rss=$rss base_anon=$anon base_fds=$fds
	fi
	end_rss=$rss end_anon=$anon end_fds=$fds
	[ "$t" -lt "$secs" ] || break
	t=$((t + 10 > secs ? secs : t + 10))
	sleep $((start + t - SECONDS > 0 ? start + t - SECONDS : 0))
done
touch "$W/stop"
for p in "${LOOPS[@]}"; do wait "$p"; done
LOOPS=()
serve_stop

# --- the verdict ------------------------------------------------------------------
rc=0
echo "== operations ($secs s, $workers workers, $nclients client loops)"
printf '  %-9s %9s %7s\n' op ok errors
for op in "${ops[@]}"; do
	ok=$(cat "$W/$op".*.count 2>/dev/null | grep -c '^ok')
	err=$(cat "$W/$op".*.count 2>/dev/null | grep -c '^err')
	printf '  %-9s %9d %7d\n' "$op" "${ok:-0}" "${err:-0}"
	if [ "${err:-0}" != 0 ]; then
		rc=1
		cat "$W/$op".*.count | grep '^err' | head -3 | sed 's/^err /      /'
	fi
	if [ "${ok:-0}" = 0 ]; then
		echo "    no $op succeeded"
		rc=1
	fi
done
[ "$TOKEN_PROBE" = 404 ] && echo "  token     POST /token answers 404: not exercised"
# The server's log once it served (start-up retries are its own business).
awk 'on; /serving https:/ { on = 1 }' "$W/serve.err" |
	grep -E ' (error|warn): |Sanitizer|runtime error' >"$W/serve.bad"
n=$(wc -l <"$W/serve.bad")
echo "  server log: $n error or warning lines while serving"
if [ "$n" != 0 ]; then
	head -3 "$W/serve.bad" | sed 's/^/      /'
	rc=1
fi
if "$TESSERA" audit verify --data "$D" >"$W/verify.out" 2>&1; then
	echo "  audit verify: $(head -1 "$W/verify.out")"
else
	echo "  audit verify FAILED: $(tail -1 "$W/verify.out")"
	rc=1
fi
echo "== memory and descriptors (supervisor + $workers workers; after the warm-up -> end)"
printf '  RSS       %6d kB -> %6d kB  (%+d%%)\n' "$base_rss" "$end_rss" \
	$(((end_rss - base_rss) * 100 / base_rss))
printf '  RSS anon  %6d kB -> %6d kB  (%+d%%)\n' "$base_anon" "$end_anon" \
	$(((end_anon - base_anon) * 100 / (base_anon > 0 ? base_anon : 1)))
printf '  fds       %6d    -> %6d\n' "$base_fds" "$end_fds"
echo "  samples in $csv"
if [ $((end_rss * 100)) -gt $((base_rss * 120)) ]; then
	echo "  RSS grew by more than 20 %"
	rc=1
fi
if [ "$end_fds" -gt $((base_fds + nclients)) ]; then
	echo "  open file descriptors grew by more than the $nclients client connections"
	rc=1
fi
if [ "$restarts" != 0 ]; then
	echo "  the set of server processes changed in $restarts samples (a worker restarted)"
	rc=1
fi
[ "$rc" = 0 ] && echo "== soak passed" || echo "== soak FAILED"
exit "$rc"
