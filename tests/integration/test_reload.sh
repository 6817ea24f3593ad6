#!/usr/bin/env bash
# Reloads always complete, and one tessera serve per data directory.
#
# Fourteen SIGHUPs at different spacings (three back to back, 0.5 s
# apart, one during a drain, a few seconds apart, once after more than ten
# seconds: the spacing at which a second reload used to SIGKILL one old
# worker and hang); twelve bring a new device token ttl_seconds in the
# policy, one a policy that does not parse, one the good policy back. After each settles, the log
# says "reload N complete: 3 workers, policy ID" (ID: the policy file's
# SHA-256, first 16 hex digits) and every worker (told apart by the
# Tessera-Worker header, sent to loopback peers) mints tokens with the new
# lifetime, and no old worker answers. Meanwhile a client that never stops
# gets no refusal and no failed connection; a request in flight on an old
# worker is answered while it drains, and a SIGHUP meanwhile is queued
# and followed. A policy that does not parse fails
# its reload: the old workers keep serving, and the next good one
# completes. A second serve on the same directory (also through another
# path) is refused in one line while other commands run; the lock goes
# with the supervisor (SIGTERM, and kill -9 with its workers still
# draining).
. "$(dirname "$0")/lib.sh"
D=$T/var
PY=/usr/bin/python3
WORKERS=3
tessera() { "$TESSERA_BIN" "$@"; }

ports=$(pick_ports 4) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 P3 P4 <<<"$ports"
URL=https://localhost:$P1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")

# wait_until SECONDS command...: poll every 0.1 s until the command works.
wait_until() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

check "init" tessera init --data "$D" --url "$URL" --publish-url "$PUB"
# A device certificate, issued offline (the CLI runs beside the server).
csr dev "/CN=dev-reload" -addext "subjectAltName=URI:urn:dev:dev-reload"
check "issue a device certificate" tessera issue --data "$D" \
	--csr "$T/dev.csr" --profile device --out "$T/dev.pem"

# set_ttl SECONDS: the device tokens' lifetime, written atomically (a
# worker starting meanwhile reads the old file or the new one, never half).
set_ttl() {
	$PY - "$D/policy.json" "$1" <<'EOF'
import json, os, sys
path, ttl = sys.argv[1], int(sys.argv[2])
j = json.load(open(path))
j["tokens"]["profiles"]["device"]["ttl_seconds"] = ttl
with open(path + ".new", "w") as f:
    json.dump(j, f, indent=2)
os.chmod(path + ".new", 0o600)
os.replace(path + ".new", path)
EOF
}
policy_id() { sha256sum "$D/policy.json" | cut -c1-16; }

set_ttl 100
if ! start_server "$D" "$P1" "$P2" "$WORKERS"; then
	fail "server did not come up"
	finish
	exit
fi
pass
grep -qF "with $WORKERS workers, policy $(policy_id)" "$T/serve.err" &&
	pass || fail "the 'serving' line does not name the policy"

# The workers of the server, one pid a line.
workers() { pgrep -x tessera -P "$SERVER_PID" | sort; }

# mint I: one token on a new connection; "PID EXPIRES_IN" into $T/m.I.
mint() {
	"${CURL[@]}" --cert "$T/dev.pem" --key "$T/dev.key" \
		-D "$T/m.$1.hdr" -o "$T/m.$1.json" \
		-d grant_type=client_credentials "$URL/token" 2>/dev/null
	echo "$(tr -d '\r' <"$T/m.$1.hdr" | sed -n 's/^tessera-worker: //Ip')" \
		"$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["expires_in"])' \
			"$T/m.$1.json" 2>/dev/null)" >"$T/m.$1"
}

# every_worker_says TTL: tokens on separate connections, four at a time,
# until each current worker has answered; every answer must come from a
# current worker and carry expires_in TTL. At most 200 tokens.
every_worker_says() {
	local want=$1 current seen="" i j pid ttl pids
	current=$(workers)
	[ "$(echo "$current" | wc -l)" = "$WORKERS" ] || {
		echo "workers: $current"
		return 1
	}
	for i in $(seq 1 50); do
		pids=""
		for j in 1 2 3 4; do
			mint "$j" &
			pids="$pids $!"
		done
		wait $pids
		for j in 1 2 3 4; do
			read -r pid ttl <"$T/m.$j"
			if [ -z "$pid" ] || ! echo "$current" | grep -qx "$pid"; then
				echo "answered by '$pid', not one of:" $current
				return 1
			fi
			if [ "$ttl" != "$want" ]; then
				echo "worker $pid: expires_in '$ttl', want $want"
				return 1
			fi
			seen=$(printf '%s\n%s\n' "$seen" "$pid" | sed '/^$/d' | sort -u)
		done
		[ "$seen" = "$current" ] && return 0
	done
	echo "after 200 tokens only these workers answered:" $seen
	return 1
}
check "every worker mints by the first policy" every_worker_says 100

# A client that never stops: new connections to both listeners, in turn,
# for as long as the reloads run. Each answer's code goes to a file.
(
	while [ ! -e "$T/load.stop" ]; do
		curl -sS --max-time 10 -o /dev/null -w '%{http_code}\n' \
			--cacert "$D/ca/chain.pem" "$URL/.well-known/est/cacerts" \
			2>>"$T/load.err"
		curl -sS --max-time 10 -o /dev/null -w '%{http_code}\n' \
			"$PUB/healthz" 2>>"$T/load.err"
	done >"$T/load.codes"
) &
LOAD=$!
cleanup_hooks+=("touch $T/load.stop; wait $LOAD")

# complete ID: since the last SIGHUP, the log says a reload completed
# with policy ID and no other one queued behind it.
complete() {
	tail -n +"$HUP_LINE" "$T/serve.err" |
		grep -qE "reload [0-9]+ complete: $WORKERS workers, policy $1\$"
}
# settle TTL: wait for the reload that brings TTL, then ask every worker.
settle() {
	local id
	id=$(policy_id)
	if ! wait_until 60 complete "$id"; then
		fail "no 'reload N complete ... policy $id' (ttl $1) in 60 s"
		grep -E 'reload|SIGHUP' "$T/serve.err" | sed 's/^/    /' >&2
		return
	fi
	pass
	check "every worker mints with ttl $1 after its reload" \
		every_worker_says "$1"
}
# hup TTL: a new policy, then SIGHUP.
HUP_LINE=1
hup() {
	set_ttl "$1"
	HUP_LINE=$(($(wc -l <"$T/serve.err") + 1))
	kill -HUP "$SERVER_PID"
}

# 1-3: back to back (the signals may coalesce; the last policy must win).
hup 101
hup 102
hup 103
settle 103
# 4-5: half a second apart, the second most likely during the first.
hup 104
sleep 0.5
hup 105
settle 105

# 6-7: a request in flight on an old worker when its drain begins. One
# keep-alive connection: a GET answered (by an old worker, which now holds
# the connection), then a POST whose body stops half way; reload 6
# starts, and while the old workers drain (one waits for that request), 7
# comes and is queued. Then the rest of the body is sent: the old worker
# answers it, and the answer closes the connection; 7 follows.
cat >"$T/inflight.py" <<'EOF'
import os, socket, sys, time
port, ready, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rb")
def answer():
    status = f.readline().decode().strip()
    headers = {}
    while True:
        line = f.readline().decode().strip()
        if not line:
            break
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    f.read(int(headers.get("content-length", "0")))
    return status, headers
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
status, h = answer()
first = h.get("tessera-worker", "")
s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
open(ready, "w").write(first)
deadline = time.time() + 60
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
s.sendall(b"cd")
status, h = answer()
print(first, h.get("tessera-worker", ""), status.split(" ")[1],
      h.get("connection", "keep-alive"))
EOF
drains=$(grep -c 'the old ones drain' "$T/serve.err")
$PY "$T/inflight.py" "$P2" "$T/inflight.ready" "$T/inflight.go" \
	>"$T/inflight.out" 2>&1 &
INFLIGHT=$!
wait_until 30 test -e "$T/inflight.ready" && pass ||
	fail "the keep-alive client did not get its first answer"
hup 106
draining() { [ "$(grep -c 'the old ones drain' "$T/serve.err")" -gt "$drains" ]; }
wait_until 60 draining && pass || fail "reload 6 did not reach its drain"
hup 107
queued() { tail -n +"$HUP_LINE" "$T/serve.err" | grep -q 'SIGHUP: queued after reload'; }
wait_until 10 queued && pass || fail "a SIGHUP during a drain was not queued"
touch "$T/inflight.go"
wait $INFLIGHT
read -r first second code conn <"$T/inflight.out"
[ -n "$first" ] && [ "$first" = "$second" ] && [ "$code" = 405 -o "$code" = 200 ] &&
	pass || fail "a request in flight during the drain: $(cat "$T/inflight.out")"
[ "$conn" = close ] && pass ||
	fail "a draining worker's answer keeps the connection open: $conn"
# Logged once the old worker is gone, a moment after it answered.
followed() {
	tail -n +"$HUP_LINE" "$T/serve.err" |
		grep -qE 'complete: .*; a queued SIGHUP reloads again$'
}
wait_until 30 followed && pass ||
	fail "reload 6 did not say a queued one follows"
settle 107

# 8-9: a few seconds apart.
for ttl in 108 109; do
	sleep 3
	hup "$ttl"
	settle "$ttl"
done

# A policy that does not parse: the reload fails and says why, the old
# workers keep serving the last good policy (the reload is tried again
# after a back-off and fails again, until the next good one).
before=$(workers)
n_failed=$(grep -c 'reload [0-9]* failed' "$T/serve.err")
cp "$D/policy.json" "$T/good.json"
printf '{"profiles": ' >"$D/policy.json.new"
chmod 600 "$D/policy.json.new"
mv "$D/policy.json.new" "$D/policy.json"
kill -HUP "$SERVER_PID"
failed() { [ "$(grep -c 'reload [0-9]* failed' "$T/serve.err")" -gt "$n_failed" ]; }
wait_until 60 failed && pass || fail "a bad policy's reload did not fail"
grep -E "reload [0-9]+ failed: .*policy\.json.*; $WORKERS workers keep serving policy" \
	"$T/serve.err" >/dev/null && pass ||
	fail "the failed reload does not name the file and the old policy"
alive() { for p in $before; do kill -0 "$p" 2>/dev/null || return 1; done; }
check "the old workers live on" alive
# The new workers of a retry never listen: only the old ones answer.
workers() { echo "$before"; }
check "the old workers serve the last good policy" every_worker_says 109
workers() { pgrep -x tessera -P "$SERVER_PID" | sort; }
cp "$T/good.json" "$D/policy.json.new"
mv "$D/policy.json.new" "$D/policy.json"
HUP_LINE=$(($(wc -l <"$T/serve.err") + 1))
kill -HUP "$SERVER_PID"
settle 109

# 10: more than ten seconds after the last good reload completed.
sleep 11
hup 110
settle 110
# 11-12: at once after it, then 12 half a second after 11 (not waiting).
hup 111
sleep 0.5
hup 112
settle 112

touch "$T/load.stop"
wait $LOAD
total=$(wc -l <"$T/load.codes")
bad=$(grep -cv '^200$' "$T/load.codes")
[ "$total" -ge 20 ] && pass || fail "the steady client made only $total requests"
[ "$bad" = 0 ] && [ ! -s "$T/load.err" ] && pass || {
	fail "$bad of $total requests failed during the reloads"
	sort "$T/load.codes" | uniq -c | sed 's/^/    /' >&2
	head -5 "$T/load.err" | sed 's/^/    /' >&2
}

# The log: every reload that started completed or failed, numbered in
# order, and none killed a worker that did not drain in time.
started=$(grep -oE 'reload [0-9]+: starting' "$T/serve.err" | awk '{print $2}' | tr -d : | sort -un)
completed=$(grep -oE 'reload [0-9]+ complete' "$T/serve.err" | awk '{print $2}' | sort -un)
failed_n=$(grep -oE 'reload [0-9]+ failed' "$T/serve.err" | awk '{print $2}' | sort -un)
[ "$started" = "$(printf '%s\n%s\n' "$completed" "$failed_n" | sed '/^$/d' | sort -un)" ] &&
	pass || fail "reloads started: $(echo $started); completed: $(echo $completed); failed: $(echo $failed_n)"
last=$(echo "$started" | tail -1)
[ "$(seq 1 "$last" | tr '\n' ' ')" = "$(echo $started) " ] && pass ||
	fail "reload numbers skipped: $(echo $started)"
[ "$(echo "$completed" | tail -1)" = "$last" ] && pass ||
	fail "the last reload ($last) did not complete"
[ "$(echo "$completed" | wc -w)" -ge 10 ] && pass ||
	fail "only $(echo $completed | wc -w) reloads completed, want at least 10"
grep -q 'still running .* after it was told to stop' "$T/serve.err" &&
	fail "a worker had to be killed: it did not drain" || pass
grep -q 'killed by signal' "$T/serve.err" && fail "a worker was killed" || pass

# One serve per data directory.
mode_is "$D/serve.lock" 600 && pass || fail "serve.lock is not 0600"
refuse "a second serve on the same directory" \
	"is already served by another tessera serve (pid $SERVER_PID)" \
	tessera serve --data "$D" --listen "127.0.0.1:$P3" --publish "127.0.0.1:$P4"
[ "$(grep -c . "$T/last.out")" = 1 ] && pass ||
	fail "the refusal is not one line: $(cat "$T/last.out")"
ln -s "$D" "$T/alias"
refuse "a second serve through another path" "is already served" \
	tessera serve --data "$T/alias/../var" --listen "127.0.0.1:$P3" \
	--publish "127.0.0.1:$P4"
check "other commands run beside the server" \
	tessera secret --data "$D" --device dev-other
check "the first server still serves" wait_healthz "$P2" 5

# SIGTERM releases the lock: a new serve starts on the same ports.
stop_server
check "serve after SIGTERM" start_server "$D" "$P1" "$P2" 2

# kill -9: the lock goes with the supervisor even while its orphaned
# workers still drain; a new serve starts at once (on other ports, as the
# old workers may still hold the first ones for a moment).
victims=$(workers)
{
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID"
} 2>/dev/null
check "serve at once after kill -9" start_server "$D" "$P3" "$P4" 2
gone() { for p in $victims; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
wait_until 30 gone && pass || fail "workers outlived their killed supervisor"
grep -qx "$SERVER_PID" "$D/serve.lock" && pass ||
	fail "serve.lock does not name the new supervisor"
check "tokens after the restart" "${CURL[@]}" --fail --cert "$T/dev.pem" \
	--key "$T/dev.key" -d grant_type=client_credentials \
	"https://localhost:$P3/token"
stop_server

finish
