#!/usr/bin/env bash
# The process keeps its secrets: with the PIN given in TESSERA_HSM_PIN,
# no tessera process (supervisor or worker) shows it in /proc/PID/environ
# or cmdline, nor in its logs; every one is not dumpable (checked where the
# kernel shows it: run as an unprivileged user, its /proc files belong to
# root), has a core limit of 0 and locked memory (the PIN's pages). And no
# value from outside forges a log line or an audit entry.
. "$(dirname "$0")/lib.sh"
read -r P1 P2 < <(pick_ports 2)
D=$T/var
check "init" "$TESSERA_BIN" init --data "$D"
PIN=$(cat "$D/hsm/user.pin")
[ "${#PIN}" -ge 16 ] && pass || fail "the PIN is too short to search for"
# The PIN from the environment only: no pin_file in tessera.json.
jq 'del(.hsm.pin_file)' "$D/tessera.json" >"$T/cfg" && cat "$T/cfg" >"$D/tessera.json"
rm -f "$D/hsm/user.pin"

# tessera_pids: the supervisor, its workers and the signer.
tessera_pids() { echo "$SERVER_PID" $(ps -o pid= --ppid "$SERVER_PID"); }
# no_pin_in PID: neither environ nor cmdline hold the PIN (root reads both).
# (The variable may stay, emptied: its bytes were overwritten in place.)
no_pin_in() {
	local f
	for f in environ cmdline; do
		[ -r "/proc/$1/$f" ] || return 1
		grep -qaF -- "$PIN" "/proc/$1/$f" && return 1
	done
	! tr '\0' '\n' <"/proc/$1/environ" | grep -qE '^TESSERA_HSM_PIN=.'
}
uid_of() { awk '/^Uid:/ {print $2}' "/proc/$1/status"; }
locked() { [ "$(awk '/^VmLck:/ {print $2}' "/proc/$1/status")" -gt 0 ]; }
no_core() { grep -qE '^Max core file size +0 +0 ' "/proc/$1/limits"; }

# --- as root, with TESSERA_HSM_PIN and debug logging ------------------------
TESSERA_HSM_PIN=$PIN TESSERA_LOG=debug start_server "$D" "$P1" "$P2" 2 || {
	fail "server did not start with TESSERA_HSM_PIN"
	finish
	exit 1
}
pids=$(tessera_pids)
n=$(echo $pids | wc -w)
[ "$n" = 4 ] && pass || fail "want a supervisor, 2 workers and the signer, found: $pids"
for p in $pids; do
	no_pin_in "$p" && pass || fail "process $p shows the PIN in environ or cmdline"
	no_core "$p" && pass || fail "process $p may dump core: $(grep -i core "/proc/$p/limits")"
done
# The signer holds the PIN (it logs in to the token): its pages are
# locked. Workers never get it.
# AddressSanitizer turns mlock into a no-op (its interceptor returns 0),
# so under the ASan build VmLck stays 0 whatever tessera does.
if grep -q '^TESSERA_SANITIZE:BOOL=ON' "$TESSERA_BUILD/CMakeCache.txt" 2>/dev/null; then
	echo "skipped: locked pages (mlock is a no-op under AddressSanitizer)"
else
	for p in $(pgrep -x tessera-signer -P "$SERVER_PID"); do
		locked "$p" && pass || fail "the signer $p has no locked memory: $(grep VmLck "/proc/$p/status")"
	done
	locked "$SERVER_PID" && pass || fail "the supervisor holds the PIN unlocked"
fi

# Log forgery: a percent-encoded newline in a path reaches the debug log of
# every request; a Basic user name with one reaches the audit of a refusal.
FORGE='2026-01-01T00:00:00Z tessera[1] error: FORGED'
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' $'\n'"$FORGE")
curl -sS --max-time 10 -o /dev/null "http://127.0.0.1:$P2/crl/x$enc"
curl -sS --max-time 10 -o /dev/null --cacert "$D/ca/chain.pem" \
	"https://localhost:$P1/.well-known/est/cacerts$enc"
u=$(printf 'dev\nFORGED-user\r\n:wrong' | base64 -w0)
code=$(printf 'x' | curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
	--cacert "$D/ca/chain.pem" -H "Authorization: Basic $u" \
	-H 'Content-Type: application/pkcs10' --data-binary @- \
	"https://localhost:$P1/.well-known/est/simpleenroll")
[ "$code" = 400 ] || [ "$code" = 401 ] && pass ||
	fail "Basic with a newline in the user: HTTP $code, want 400 or 401"
# The request lines were logged (debug), escaped: FORGED never starts a line.
wait_log() { # wait up to 10 s for TEXT in serve.err
	local i
	for i in $(seq 1 100); do grep -qF -- "$1" "$T/serve.err" && return 0; sleep 0.1; done
	return 1
}
wait_log 'FORGED' && pass || fail "the forged requests were not logged at all (debug)"
grep -qE '^2026-01-01T00:00:00Z|^FORGED' "$T/serve.err" &&
	fail "a request forged a log line: $(grep -E '^2026-01-01|^FORGED' "$T/serve.err" | head -2)" || pass
grep -qF '\x0a2026-01-01T00:00:00Z tessera[1] error: FORGED' "$T/serve.err" && pass ||
	fail "the newline is not shown escaped in the log"
# Every line of the log is one of tessera's.
bad=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z tessera\[[0-9]+\] (debug|info|warn|error): ' "$T/serve.err")
[ "$bad" = 0 ] && pass || fail "$bad log lines are not tessera's own"
stop_server
# The audit: no field holds a control character.
n=$(sqlite3 "$D/tessera.db" "SELECT count(*) FROM audit WHERE
	actor GLOB '*[$(printf '\001-\037')]*' OR object GLOB '*[$(printf '\001-\037')]*' OR
	detail GLOB '*[$(printf '\001-\037')]*' OR action GLOB '*[$(printf '\001-\037')]*'")
[ "$n" = 0 ] && pass || fail "$n audit entries hold control characters"
n=$(sqlite3 "$D/tessera.db" "SELECT count(*) FROM audit WHERE instr(actor, 'dev\x0aFORGED-user\x0d\x0a') > 0")
[ "$n" -ge 1 ] && pass || fail "the refusal's actor is not in the audit, escaped"
"$TESSERA_BIN" audit verify --data "$D" >"$T/verify.out" 2>&1 && pass ||
	fail "audit verify after hostile names: $(cat "$T/verify.out")"

# Nowhere in what the server and the CLI wrote.
hits=$(grep -rlaF -- "$PIN" "$T/serve.err" "$T/serve.out" "$D" 2>/dev/null)
[ -z "$hits" ] && pass || fail "the PIN is in: $hits"

# --- as an unprivileged user: not dumpable, as the kernel shows it ------------
# /proc/PID/* of a process that is not dumpable belongs to root whatever
# its user (proc(5), PR_SET_DUMPABLE); a dumpable one's belongs to its user.
NOBODY=65534
chmod 755 "$T"
chown -R "$NOBODY:$NOBODY" "$D"
skip=$(($(wc -l <"$T/serve.err") + 1))
TESSERA_HSM_PIN=$PIN setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	"$TESSERA_BIN" serve --data "$D" --listen "127.0.0.1:$P1" \
	--publish "127.0.0.1:$P2" --workers 2 >>"$T/serve.out" 2>>"$T/serve.err" &
SERVER_PID=$!
cleanup_hooks+=("stop_server $SERVER_PID")
up=0
for i in $(seq 1 600); do
	kill -0 "$SERVER_PID" 2>/dev/null || break
	tail -n +"$skip" "$T/serve.err" | grep -qF "serving https://127.0.0.1:$P1 " && { up=1; break; }
	sleep 0.1
done
if [ "$up" = 1 ]; then
	pass
	for p in $(tessera_pids); do
		[ "$(uid_of "$p")" = "$NOBODY" ] && pass ||
			fail "process $p does not run as $NOBODY"
		[ "$(stat -c %u "/proc/$p/environ")" = 0 ] && pass ||
			fail "process $p is dumpable: /proc/$p/environ belongs to $(stat -c %U "/proc/$p/environ")"
		no_pin_in "$p" && pass || fail "process $p (unprivileged) shows the PIN"
		no_core "$p" && pass || fail "process $p (unprivileged) may dump core"
	done
	# And the check can fail: an ordinary process of that user is dumpable.
	setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups sleep 30 &
	sp=$!
	for i in $(seq 1 50); do [ "$(uid_of "$sp")" = "$NOBODY" ] && break; sleep 0.1; done
	[ "$(stat -c %u "/proc/$sp/environ")" = "$NOBODY" ] && pass ||
		fail "the dumpable check cannot tell: sleep's environ belongs to $(stat -c %u "/proc/$sp/environ")"
	kill "$sp"
	wait "$sp" 2>/dev/null
	stop_server
else
	fail "the server did not start as an unprivileged user:"
	tail -n +"$skip" "$T/serve.err" | tail -5 | sed 's/^/    /' >&2
fi
chown -R 0:0 "$D"
finish
