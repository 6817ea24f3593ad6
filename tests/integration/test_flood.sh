#!/usr/bin/env bash
# A few addresses cannot starve everyone else: connections that send
# nothing, half a TLS handshake or half a request line are closed within
# a few seconds (LIMIT_HTTP_FIRST_REQUEST_SECONDS, 5 s; the idle timeout
# is 30 s) while other clients are served; eight addresses (127.0.0.2-9)
# holding every connection they can cannot keep a ninth (127.0.0.1) from
# EST, the API's refusal or publication (CRL, OCSP, /healthz).
. "$(dirname "$0")/lib.sh"
read -r P1 P2 < <(pick_ports 2)
D=$T/var
FLOOD=(python3 "$(dirname "$0")/hostile/flood.py")
C=(curl -sS --max-time 10 --cacert "$D/ca/chain.pem")
check "init" "$TESSERA_BIN" init --data "$D"
start_server "$D" "$P1" "$P2" 2 || {
	fail "server did not start"
	finish
	exit 1
}
# served WHAT: a TLS read and a publication read from 127.0.0.1 answer 200.
served() {
	local a b
	a=$("${C[@]}" -o /dev/null -w '%{http_code}' "https://localhost:$P1/.well-known/est/cacerts")
	b=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/crl/issuing.crl")
	[ "$a/$b" = 200/200 ] && pass || fail "$1: cacerts $a, CRL $b (want 200/200)"
}

# --- slow starts: cut within the bound (5 s, the sweeper's second, and
# slack for a loaded machine), far below the 30 s idle timeout --------------
BOUND=15
for c in "nothing $P1" "half-tls $P1" "nothing $P2" "half-line $P2"; do
	read -r what port <<<"$c"
	"${FLOOD[@]}" slow --connect "127.0.0.1:$port" --what "$what" --count 10 \
		--timeout 40 >"$T/slow-$what-$port.out" 2>&1 &
	sp=$!
	served "while 10 connections on :$port send $what"
	wait "$sp"
	res=$(cat "$T/slow-$what-$port.out")
	longest=$(sed -n 's/.*longest \([0-9]*\)\..*/\1/p' <<<"$res")
	[[ $res == "closed 10 of 10, "* ]] && [ "${longest:-99}" -le "$BOUND" ] && pass ||
		fail "connections sending $what to :$port: $res (want all closed within $BOUND s)"
done

# --- eight addresses hold all they can ----------------------------------------
src=$(seq -s, -f '127.0.0.%g' 2 9)
"${FLOOD[@]}" hold --connect "127.0.0.1:$P1" --from "$src" --per 150 \
	--seconds 30 >"$T/hold-tls.out" 2>&1 &
h1=$!
"${FLOOD[@]}" hold --connect "127.0.0.1:$P2" --from "$src" --per 150 \
	--seconds 30 >"$T/hold-pub.out" 2>&1 &
h2=$!
# Until the flood holds connections from every one of them (bounded).
for _ in $(seq 1 100); do
	n=$(ss -tnH state established "( sport = :$P1 )" | awk '{print $4}' |
		grep -oE '^127\.0\.0\.[2-9]:' | sort -u | wc -l)
	[ "$n" -ge 8 ] && break
	sleep 0.1
done
[ "$n" -ge 8 ] && pass || fail "the flood did not reach the server from 8 addresses ($n)"
ok=0
for i in $(seq 1 10); do
	a=$("${C[@]}" -o /dev/null -w '%{http_code}' "https://localhost:$P1/.well-known/est/cacerts")
	b=$("${C[@]}" -o /dev/null -w '%{http_code}' "https://localhost:$P1/api/v1/certificates")
	p=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/healthz")
	[ "$a/$b/$p" = 200/401/200 ] && ok=$((ok + 1)) ||
		echo "    round $i: cacerts $a, API $b, healthz $p" >&2
done
[ "$ok" = 10 ] && pass || fail "a ninth address during the flood: $ok of 10 rounds served"
# The flooders were held to their share: the server closed what they
# could not keep (per-address limit, first-request deadline).
wait "$h1" "$h2"
for f in hold-tls hold-pub; do
	read -r _ opened _ closed <"$T/$f.out"
	[ "${closed:-0}" -gt 0 ] && pass || fail "$f: the server closed none of the flood ($(cat "$T/$f.out"))"
done
served "after the flood"
kill -0 "$SERVER_PID" && pass || fail "the server died"
grep -E 'killed by signal|exited with status' "$T/serve.err" && fail "a worker died" || pass
finish
