#!/usr/bin/env bash
# Crash durability: clients enroll with one-time secrets, renew over mutual
# TLS, revoke certificates and devices through the admin API and ask for
# tokens, all at once, while the supervisor and every worker are killed
# with SIGKILL together (as a power loss would) at a random moment 1-4 s
# into each of several rounds, and the server is started again under them.
# A client records a certificate only once the whole answer is in, and a
# revocation only once its 200 is. Then, with the server stopped cleanly:
# every certificate a client received is in the store (same DER); every
# acknowledged revocation is there (certificate, feed, audit, CRL, OCSP);
# serials are unique; PRAGMA integrity_check is ok; `tessera audit verify`
# passes; no enrollment secret is consumed without its certificate stored,
# nor a certificate enrolled with a secret stored without the secret
# consumed. The last line sums it up: rounds, kills, what was received and
# acknowledged, what the kills cut off, and what was lost (must be 0).
#
# TESSERA_CRASH_ROUNDS (default 6) sets the rounds; TESSERA_CRASH_SECRETS
# (default 500) the one-time secrets per enrolling client.
. "$(dirname "$0")/lib.sh"
D=$T/var
C=$T/crash
mkdir -p "$C"
tessera() { "$TESSERA_BIN" "$@"; }
db() { sqlite3 -cmd '.timeout 5000' "$D/tessera.db" "$@"; }

ROUNDS=${TESSERA_CRASH_ROUNDS:-6}
NSECRETS=${TESSERA_CRASH_SECRETS:-500}
WORKERS=3

ports=$(pick_ports 2) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 <<<"$ports"
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
PUB=http://127.0.0.1:$P2
# --max-time is generous: under AddressSanitizer an answer can take seconds.
CURL=(curl -sS --connect-timeout 3 --max-time 30 --cacert "$D/ca/chain.pem")
CT=(-H 'Content-Type: application/pkcs10')
JS=(-H 'Content-Type: application/json')
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")

check "init" tessera init --data "$D" --name "Crash Test" --publish-url "$PUB"
# start: start_server, tried three times. A start that fails and then
# succeeds is reported in the summary, not failed: SoftHSMv2 has been seen
# to refuse a worker's first token open now and then on any start (see
# bench/lib.sh); a restart that a crash broke fails all three.
START_RETRIES=0
start() {
	local _
	for _ in 1 2 3; do
		start_server "$D" "$P1" "$P2" "$WORKERS" && return 0
		stop_server
		START_RETRIES=$((START_RETRIES + 1))
		sleep 0.5
	done
	return 1
}
if ! start; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass

# --- helpers ------------------------------------------------------------------
# cert_line P7 KIND: "SERIAL SHA256 CN KIND" of the certificate in the
# base64 certs-only PKCS#7 P7; fails when P7 holds none.
cert_line() {
	local serial fp cn
	read -r serial fp cn < <(cert_fields "$1") || return 1
	echo "$serial ${fp^^} $cn $2"
}
# csr_b64 KEY CN OUT: a CSR for /CN=CN with KEY, DER in base64 in OUT.
csr_b64() {
	openssl req -new -key "$1" -subj "/CN=$2" -outform DER 2>/dev/null |
		base64 -w0 >"$3"
}
# Retry a request whose answer a kill cut off: every 0.1 s for up to a
# minute (the server is back within seconds, slower under ASan).
RETRIES=600

# --- clients ------------------------------------------------------------------
# Each client appends to its own files, and only what it fully received:
#   NAME.recv     SERIAL SHA256 CN KIND of each certificate received
#   NAME.acked    SERIAL or device:ID of each revocation answered 200
#   NAME.cut      what a kill cut off and the retry showed was committed
#                 (enroll: 401, the secret was used; revoke: 409)
#   NAME.bad      any other answer: a failure of the test
#   NAME.gaveup   what stayed unanswered for a minute of retries
#   NAME.retried  a line for each request retried after a kill

# cut_off RC CODE OUT: the request was cut off by a kill and is tried
# again: no answer (curl failed, code 000), or a 503 saying the signer is
# unavailable, from a worker still alive when the kill took the signer (one
# kill(1) signals the tree's processes one after another); such a request
# signed and committed nothing.
cut_off() {
	[ "$2" = 000 ] || [ "$1" != 0 ] ||
		{ [ "$2" = 503 ] && grep -q 'the signer is unavailable' "$3"; }
}

# enroll_loop NAME: simpleenroll with each secret of $C/NAME.secrets
# ("DEVICE SECRET" lines), a new CSR per device from one key.
enroll_loop() {
	local name=$1 dev sec r rc code i tries
	while read -r dev sec; do
		is_stopping && break
		csr_b64 "$C/$name.key" "$dev" "$C/$name.csr"
		tries=0
		while :; do
			read -r rc code < <(post_rc "$C/$name.out" "$EST/simpleenroll" \
				"${CT[@]}" -u "$dev:$sec" --data-binary @"$C/$name.csr")
			if [ "$rc" = 0 ] && [ "$code" = 200 ]; then
				if r=$(cert_line "$C/$name.out" enroll); then
					echo "$r" >>"$C/$name.recv"
				else
					echo "$dev: 200 without a certificate" >>"$C/$name.bad"
				fi
				break
			elif cut_off "$rc" "$code" "$C/$name.out"; then
				tries=$((tries + 1))
				[ "$tries" = 1 ] && echo x >>"$C/$name.retried"
				if [ "$tries" -ge "$RETRIES" ]; then
					echo "$dev" >>"$C/$name.gaveup"
					break
				fi
				sleep 0.1
			elif [ "$code" = 401 ] && [ "$tries" -gt 0 ]; then
				echo "$dev" >>"$C/$name.cut"
				break
			else
				echo "$dev: HTTP $code $(head -c 200 "$C/$name.out")" \
					>>"$C/$name.bad"
				break
			fi
		done
	done <"$C/$name.secrets"
}

# reenroll_loop NAME: simplereenroll over mutual TLS with the certificate
# received last ($C/NAME.pem), the same key and CSR each time.
reenroll_loop() {
	local name=$1 r rc code tries
	while ! is_stopping; do
		tries=0
		while :; do
			read -r rc code < <(post_rc "$C/$name.out" "$EST/simplereenroll" \
				"${CT[@]}" --cert "$C/$name.pem" --key "$C/$name.key" \
				--data-binary @"$C/$name.csr")
			if [ "$rc" = 0 ] && [ "$code" = 200 ]; then
				if r=$(cert_line "$C/$name.out" reenroll); then
					echo "$r" >>"$C/$name.recv"
					base64 -d "$C/$name.out" | openssl pkcs7 -inform DER \
						-print_certs 2>/dev/null |
						openssl x509 -out "$C/$name.pem.new" 2>/dev/null &&
						mv "$C/$name.pem.new" "$C/$name.pem"
				else
					echo "200 without a certificate" >>"$C/$name.bad"
				fi
				break
			elif cut_off "$rc" "$code" "$C/$name.out"; then
				tries=$((tries + 1))
				[ "$tries" = 1 ] && echo x >>"$C/$name.retried"
				if [ "$tries" -ge "$RETRIES" ]; then
					echo "reenroll" >>"$C/$name.gaveup"
					break
				fi
				sleep 0.1
			elif [ "$code" = 403 ] && grep -q superseded "$C/$name.out"; then
				# A renewal committed by a server killed before its answer
				# was out: the certificate renewed is superseded. Go on
				# with the newest one the store holds for the same key.
				db "SELECT writefile('$C/$name.der', der) FROM certificates
					WHERE device_id = 'c$name-0' AND status = 'valid'
					AND supersede_at IS NULL ORDER BY created DESC LIMIT 1" \
					>/dev/null &&
					openssl x509 -inform DER -in "$C/$name.der" \
						-out "$C/$name.pem" 2>/dev/null
				echo x >>"$C/$name.superseded"
				break
			else
				echo "HTTP $code $(head -c 200 "$C/$name.out")" >>"$C/$name.bad"
				sleep 0.2
				break
			fi
		done
	done
}

# revoke_loop NAME SOURCES...: follows what the enrolling clients received;
# of every three certificates it revokes one by serial and the device of
# another (the device enrolled once, so that is exactly its certificate)
# and leaves the third valid.
revoke_loop() {
	local name=$1 src serial fp cn kind path what n rc code tries
	shift
	declare -A seen
	for src in "$@"; do seen[$src]=0; done
	while :; do
		n=0
		for src in "$@"; do
			[ -f "$C/$src.recv" ] || continue
			while read -r serial fp cn kind; do
				seen[$src]=$((seen[$src] + 1))
				[ -n "$kind" ] || continue
				case $((seen[$src] % 3)) in
				0) path="certificates/$serial/revoke" what=$serial ;;
				1) path="devices/$cn/revoke" what="device:$cn" ;;
				*) continue ;;
				esac
				n=$((n + 1))
				tries=0
				while :; do
					read -r rc code < <(post_rc "$C/$name.out" "$API/$path" \
						"${ADM[@]}" "${JS[@]}" -d '{"reason": "keyCompromise"}')
					if [ "$rc" = 0 ] && [ "$code" = 200 ]; then
						echo "$what" >>"$C/$name.acked"
						break
					elif cut_off "$rc" "$code" "$C/$name.out"; then
						tries=$((tries + 1))
						[ "$tries" = 1 ] && echo x >>"$C/$name.retried"
						if [ "$tries" -ge "$RETRIES" ]; then
							echo "$what" >>"$C/$name.gaveup"
							break
						fi
						sleep 0.1
					elif [ "$code" = 409 ] && [ "$tries" -gt 0 ]; then
						echo "$what" >>"$C/$name.cut"
						break
					else
						echo "$what: HTTP $code $(head -c 200 "$C/$name.out")" \
							>>"$C/$name.bad"
						break
					fi
				done
			done < <(tail -n +"$((seen[$src] + 1))" "$C/$src.recv")
		done
		# Stop once the enrolling clients have stopped and all is done.
		if [ "$n" = 0 ]; then
			[ -e "$C/stop.enroll" ] && break
			sleep 0.1
		fi
	done
}

# token_jti JWT: the jti claim of a compact JWS's payload.
token_jti() {
	local p
	p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
	while [ $((${#p} % 4)) != 0 ]; do p="$p="; done
	base64 -d <<<"$p" 2>/dev/null | grep -oE '"jti":"[A-Za-z0-9_-]+"' |
		cut -d'"' -f4
}

# token_loop NAME: POST /token (client_credentials over mutual TLS with a
# device certificate). Tokens are not stored, their mints' audit rows are:
# the jti of each token received goes into NAME.jti.
token_loop() {
	local name=$1 rc code jwt
	while ! is_stopping; do
		read -r rc code < <(post_rc "$C/$name.out" "https://localhost:$P1/token" \
			--cert "$C/$name.pem" --key "$C/$name.key" \
			-d grant_type=client_credentials)
		if [ "$rc" = 0 ] && [ "$code" = 200 ] &&
			jwt=$(grep -oE '[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+' \
				"$C/$name.out"); then
			echo ok >>"$C/$name.count"
			token_jti "$jwt" >>"$C/$name.jti"
		elif cut_off "$rc" "$code" "$C/$name.out"; then
			echo cut >>"$C/$name.count"
			sleep 0.1
		else
			echo bad >>"$C/$name.count"
			echo "HTTP $code $(head -c 200 "$C/$name.out")" >>"$C/$name.bad"
			sleep 0.1
		fi
	done
}

# --- set-up -------------------------------------------------------------------
# Secrets for the enrolling clients, minted through the admin API over one
# connection per batch of 100.
mint_batch() { # PREFIX FROM TO
	local args=() i dev
	for i in $(seq -f '%05g' "$2" "$3"); do
		dev=$1-$i
		[ ${#args[@]} = 0 ] || args+=(--next)
		args+=("${CURL[@]:1}" "${ADM[@]}" "${JS[@]}" -w '\n'
			-d "{\"device\": \"$dev\", \"ttl\": 7200}"
			"$API/enrollment-secrets")
	done
	curl "${args[@]}" 2>/dev/null
}
for e in e1 e2; do
	for i in $(seq 1 100 "$NSECRETS"); do
		mint_batch "c$e" "$i" "$((i + 99 > NSECRETS ? NSECRETS : i + 99))"
	done | python3 -c '
import json, sys
for l in sys.stdin:
    if l.strip():
        j = json.loads(l)
        print(j["device"], j["secret"])' >"$C/$e.secrets"
	n=$(wc -l <"$C/$e.secrets")
	[ "$n" = "$NSECRETS" ] && pass ||
		fail "minted $n secrets for $e through the API, want $NSECRETS"
	openssl ecparam -name prime256v1 -genkey -noout -out "$C/$e.key" 2>/dev/null
done

# Devices for renewal and tokens: enrolled with a secret from the CLI.
for name in r1 r2 t1; do
	dev=c$name-0
	openssl ecparam -name prime256v1 -genkey -noout -out "$C/$name.key" 2>/dev/null
	csr_b64 "$C/$name.key" "$dev" "$C/$name.csr"
	s=$(tessera secret --data "$D" --device "$dev" 2>>"$T/secret.err" | tail -1)
	read -r rc code < <(post_rc "$C/$name.out" "$EST/simpleenroll" "${CT[@]}" \
		-u "$dev:$s" --data-binary @"$C/$name.csr")
	if [ "$code" = 200 ] && r=$(cert_line "$C/$name.out" enroll); then
		pass
		echo "$r" >>"$C/$name.recv"
		base64 -d "$C/$name.out" | openssl pkcs7 -inform DER -print_certs |
			openssl x509 -out "$C/$name.pem"
	else
		fail "enrolling $dev: HTTP $code"
		finish
		exit
	fi
done

read -r rc code < <(post_rc "$C/probe.out" "https://localhost:$P1/token" \
	--cert "$C/t1.pem" --key "$C/t1.key" -d grant_type=client_credentials)
if [ "$code" = 404 ]; then
	TOKENS=no
	echo "crash: POST /token answers 404; tokens are not exercised"
else
	TOKENS=yes
fi

# --- rounds -------------------------------------------------------------------
client enroll_loop e1
client enroll_loop e2
ENROLLERS=("${CLIENTS[@]}")
client reenroll_loop r1
client reenroll_loop r2
client revoke_loop v1 e1 e2
if [ "$TOKENS" = yes ]; then
	client token_loop t1
fi
# lib.sh's stop_clients, and $C/stop.enroll too.
stop_clients() {
	local p
	touch "$C/stop" "$C/stop.enroll"
	for p in "${CLIENTS[@]}"; do kill "$p" 2>/dev/null; done
}
cleanup_hooks+=(stop_clients)

# crash: SIGKILL the supervisor and its workers at once. The supervisor is
# stopped first so that it forks no replacement in between.
KILLS=0
KILLED=0
crash() {
	local pid=$SERVER_PID kids k i left
	kill -STOP "$pid"
	kids=$(pgrep -P "$pid" | tr '\n' ' ')
	# shellcheck disable=SC2086
	kill -KILL $kids "$pid"
	wait "$pid" 2>/dev/null
	# The workers go to init; wait until they are gone (or zombies).
	for i in $(seq 1 100); do
		left=0
		for k in $kids; do
			[ "$(awk '{ print $3 }' "/proc/$k/stat" 2>/dev/null)" = "" ] ||
				[ "$(awk '{ print $3 }' "/proc/$k/stat" 2>/dev/null)" = Z ] ||
				left=1
		done
		[ "$left" = 0 ] && break
		sleep 0.05
	done
	KILLS=$((KILLS + 1))
	KILLED=$((KILLED + 1 + $(wc -w <<<"$kids")))
	# Its children: the workers and the signer.
	[ "$(wc -w <<<"$kids")" = "$((WORKERS + 1))" ] && pass ||
		fail "round $KILLS: killed $(wc -w <<<"$kids") children, want $WORKERS workers and the signer"
}

t0=$SECONDS
for r in $(seq 1 "$ROUNDS"); do
	ms=$((1000 + RANDOM % 3001))
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	crash
	if ! start; then
		fail "round $r: the server did not come back after SIGKILL"
		tail -20 "$T/serve.err" | sed 's/^/    /' >&2
		stop_clients
		wait
		finish
		exit
	fi
	pass
done

# A last stretch with the server up, then the clients finish what they
# have started (a request a kill cut off is retried until answered).
sleep 1
touch "$C/stop"
for p in "${ENROLLERS[@]}"; do wait "$p"; done
touch "$C/stop.enroll"
for p in "${CLIENTS[@]}"; do wait "$p"; done
run_s=$((SECONDS - t0))
# The CRL follows revocations within a second or two.
sleep 3
"${CURL[@]}" -o "$C/issuing.crl" "$PUB/crl/issuing.crl"
# OCSP for the last acknowledged revocations by serial: revoked.
n=0
for s in $(grep -hv '^device:' "$C/v1.acked" 2>/dev/null | tail -5); do
	openssl ocsp -issuer "$D/ca/issuing.pem" -serial "0x$s" -url "$PUB/ocsp" \
		-CAfile "$D/ca/chain.pem" -timeout 20 >"$C/ocsp.out" 2>&1
	grep -qx "0x$s: revoked" "$C/ocsp.out" && n=$((n + 1)) ||
		fail "OCSP for $s, revoked and acknowledged: $(head -3 "$C/ocsp.out" | tr '\n' ' ')"
done
[ "$n" -gt 0 ] && pass || fail "no acknowledged revocation was asked of OCSP"
stop_server

# --- what the clients saw -----------------------------------------------------
cat "$C"/*.recv >"$C/received"
cat "$C"/v1.acked 2>/dev/null >"$C/acked"
# Revocations a kill cut off that the retry found committed (409).
cat "$C"/v1.cut 2>/dev/null >"$C/cut"
n_enroll=$(grep -c ' enroll$' "$C/received")
n_reenroll=$(grep -c ' reenroll$' "$C/received")
n_recv=$(wc -l <"$C/received")
n_acked=$(wc -l <"$C/acked")
n_cut=$(cat "$C"/*.cut 2>/dev/null | wc -l)
n_retried=$(cat "$C"/*.retried 2>/dev/null | wc -l)
if cat "$C"/*.bad 2>/dev/null | grep -q .; then
	fail "clients got answers they should not have:"
	for f in "$C"/*.bad; do
		[ -s "$f" ] || continue
		echo "    $(basename "$f" .bad): $(wc -l <"$f") answers, first:" >&2
		head -5 "$f" | sed 's/^/      /' >&2
	done
else pass; fi
if cat "$C"/*.gaveup 2>/dev/null | grep -q .; then
	fail "requests still unanswered after a minute of retries: $(cat "$C"/*.gaveup | wc -l)"
else pass; fi
[ "$n_enroll" -gt "$ROUNDS" ] && [ "$n_reenroll" -gt "$ROUNDS" ] && pass ||
	fail "too little load: $n_enroll enrollments, $n_reenroll renewals received"
[ "$n_acked" -gt 0 ] && pass || fail "no revocation was acknowledged"

# --- the store ----------------------------------------------------------------
check "PRAGMA integrity_check is ok" test "$(db 'PRAGMA integrity_check')" = ok
fk=$(db 'PRAGMA foreign_key_check' | head -5)
[ -z "$fk" ] && pass || fail "PRAGMA foreign_key_check: $fk"
check "tessera audit verify" tessera audit verify --data "$D"

# Every certificate a client received, with the same DER.
db "SELECT serial, hex(der) FROM certificates" | python3 -c '
import hashlib, sys
for l in sys.stdin:
    s, h = l.strip().split("|")
    print(s, hashlib.sha256(bytes.fromhex(h)).hexdigest().upper())' |
	sort >"$C/stored"
awk '{ print $1, $2 }' "$C/received" | sort >"$C/received.sf"
check_received "$C/received.sf" "$C/stored"
n=$(db "SELECT count(*) - count(DISTINCT serial) FROM certificates")
[ "$n" = 0 ] && pass || fail "$n duplicate serials in the store"

# One 'issue' audit entry for every certificate, and no other.
n=$(db "SELECT count(*) FROM certificates c WHERE (SELECT count(*) FROM audit a
	WHERE a.action = 'issue' AND a.object = c.serial) != 1")
[ "$n" = 0 ] && pass || fail "$n certificates without exactly one 'issue' audit entry"
n=$(db "SELECT count(*) FROM audit WHERE action = 'issue'
	AND object NOT IN (SELECT serial FROM certificates)")
[ "$n" = 0 ] && pass || fail "$n 'issue' audit entries for certificates not in the store"

# Every acknowledged revocation: the certificate is revoked, in the feed,
# in the audit and on the CRL; a device's certificates all revoked and the
# device blocked. Those a kill cut off (409 on retry) count as revoked too.
openssl crl -inform DER -in "$C/issuing.crl" -noout -text 2>/dev/null |
	sed -n 's/^ *Serial Number: *//p' | tr 'a-f' 'A-F' | sort >"$C/crl.serials"
[ -s "$C/issuing.crl" ] && pass || fail "no CRL from $PUB/crl/issuing.crl"
db "SELECT serial FROM certificates WHERE status = 'revoked'" | sort >"$C/revoked"
db "SELECT DISTINCT serial FROM revocations" | sort >"$C/feed"
db "SELECT DISTINCT object FROM audit WHERE action = 'revoke'" | sort >"$C/audit.revoke"
db "SELECT id FROM devices WHERE status = 'blocked'" | sort >"$C/blocked"
db "SELECT DISTINCT device_id FROM certificates WHERE status = 'valid'" |
	sort >"$C/has.valid"
grep -hv '^device:' "$C/acked" "$C/cut" | sort -u >"$C/want.serials"
grep -h '^device:' "$C/acked" "$C/cut" | sed 's/^device://' | sort -u >"$C/want.devices"
unrevoked=0
for f in revoked feed crl.serials; do
	n=$(comm -23 "$C/want.serials" "$C/$f" | wc -l)
	unrevoked=$((unrevoked + n))
	[ "$n" = 0 ] && pass || {
		fail "$n acknowledged certificate revocations missing from $f:"
		comm -23 "$C/want.serials" "$C/$f" | head -3 | sed 's/^/    /' >&2
	}
done
n=$(comm -23 "$C/want.serials" "$C/audit.revoke" | wc -l)
[ "$n" = 0 ] && pass || fail "$n acknowledged revocations without a 'revoke' audit entry"
n=$(comm -23 "$C/want.devices" "$C/blocked" | wc -l)
unrevoked=$((unrevoked + n))
[ "$n" = 0 ] && pass || fail "$n devices whose revocation was acknowledged are not blocked"
n=$(comm -12 "$C/want.devices" "$C/has.valid" | wc -l)
unrevoked=$((unrevoked + n))
[ "$n" = 0 ] && pass ||
	fail "$n devices whose revocation was acknowledged still hold a valid certificate"
# The feed and the certificates agree both ways, the CRL lists them all.
cmp -s "$C/revoked" "$C/feed" && pass ||
	fail "revoked certificates and the revocations feed differ: $(diff "$C/revoked" "$C/feed" | grep -c '^[<>]') lines"
n=$(comm -23 "$C/revoked" "$C/crl.serials" | wc -l)
[ "$n" = 0 ] && pass || fail "$n revoked certificates are not on the CRL"

# Secrets and certificates: a consumed secret names a stored certificate,
# of its own device, and no certificate twice; every certificate issued
# with a secret (the audit's actor secret:ID) consumed one; devices that
# only ever enrolled with a secret hold no certificate without one.
n=$(db "SELECT count(*) FROM enrollment_secrets s WHERE s.consumed_at IS NOT NULL
	AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = s.consumed_serial
	AND c.device_id = s.device_id)")
[ "$n" = 0 ] && pass || fail "$n consumed secrets without their certificate in the store"
n=$(db "SELECT count(*) FROM enrollment_secrets
	WHERE consumed_at IS NULL AND consumed_serial IS NOT NULL")
[ "$n" = 0 ] && pass || fail "$n secrets name a certificate but are not consumed"
n=$(db "SELECT count(*) FROM (SELECT consumed_serial FROM enrollment_secrets
	WHERE consumed_serial IS NOT NULL GROUP BY 1 HAVING count(*) > 1)")
[ "$n" = 0 ] && pass || fail "$n certificates consumed more than one secret"
n=$(db "SELECT count(*) FROM audit a WHERE a.action = 'issue' AND a.actor LIKE 'secret %'
	AND NOT EXISTS (SELECT 1 FROM enrollment_secrets s WHERE s.consumed_serial = a.object)")
[ "$n" = 0 ] && pass || fail "$n certificates issued with a secret that is not consumed"
n=$(db "SELECT count(*) FROM certificates c WHERE (c.device_id LIKE 'ce1-%'
	OR c.device_id LIKE 'ce2-%') AND NOT EXISTS (SELECT 1 FROM enrollment_secrets s
	WHERE s.consumed_serial = c.serial)")
[ "$n" = 0 ] && pass || fail "$n certificates of secret-only devices without a consumed secret"
# What the clients saw agrees: a secret that enrolled names the certificate
# received; one a kill cut off (401 on retry) was consumed with its
# certificate stored; the secrets never tried are unused.
db "SELECT device_id || ' ' || consumed_serial FROM enrollment_secrets
	WHERE consumed_at IS NOT NULL AND device_id LIKE 'ce_-%'" | sort >"$C/consumed"
awk '$4 == "enroll" && $3 ~ /^ce[12]-/ { print $3, $1 }' "$C/received" | sort >"$C/want.consumed"
n=$(comm -23 "$C/want.consumed" "$C/consumed" | wc -l)
[ "$n" = 0 ] && pass || fail "$n enrollments received whose secret does not name their certificate"
cat "$C"/e1.cut "$C"/e2.cut 2>/dev/null | sort >"$C/cut.devices"
n=$(comm -23 "$C/cut.devices" <(awk '{ print $1 }' "$C/consumed") | wc -l)
[ "$n" = 0 ] && pass || fail "$n secrets refused on retry after a kill are not consumed"
n_cut_enroll=$(wc -l <"$C/cut.devices")
n_consumed=$(wc -l <"$C/consumed")
n_tried=$(($(wc -l <"$C/want.consumed") + n_cut_enroll))
[ "$n_consumed" = "$n_tried" ] && pass ||
	fail "$n_consumed secrets consumed, but clients enrolled $n_tried devices (received or cut off)"

# --- numbers --------------------------------------------------------------------
if [ "$TOKENS" = yes ]; then
	tok_ok=$(grep -c '^ok$' "$C/t1.count")
	tok_cut=$(grep -c '^cut$' "$C/t1.count")
	tok_bad=$(grep -c '^bad$' "$C/t1.count")
	[ "$tok_ok" -gt 0 ] && pass || fail "no token request answered 200"
	# Every token received was recorded (its mint's audit row) first.
	db "SELECT detail FROM audit WHERE action = 'token'" |
		sed -n 's/^jti=\([^ ]*\) .*/\1/p' | sort >"$C/audit.jti"
	sort "$C/t1.jti" >"$C/want.jti"
	n=$(comm -23 "$C/want.jti" "$C/audit.jti" | wc -l)
	[ "$(wc -l <"$C/want.jti")" = "$tok_ok" ] && [ "$n" = 0 ] && pass ||
		fail "$n of $tok_ok tokens received have no audit row (jti)"
	tokens="tokens: $tok_ok issued, $tok_cut cut off by kills, $tok_bad errors"
else
	tokens="tokens: not exercised (POST /token answers 404)"
fi
n_stored=$(db "SELECT count(*) FROM certificates")
echo "crash: $ROUNDS rounds, $KILLS kills ($KILLED processes) in ${run_s}s of load;" \
	"received $n_recv certificates ($n_enroll enroll, $n_reenroll reenroll)," \
	"$n_stored in the store; $n_acked revocations acknowledged;" \
	"$n_retried requests cut off by a kill and retried," \
	"$n_cut of them found committed on retry;" \
	"$tokens; starts retried: $START_RETRIES;" \
	"lost: $lost certificates, $unrevoked revocations"
finish
