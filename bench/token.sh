#!/usr/bin/env bash
# bench/token.sh [SECONDS]: device tokens per second from tessera over
# keep-alive mutual TLS, and what bounds them. Not a test; ctest never
# runs it.
#
# Builds, makes a fresh data directory under /tmp, enrolls one device,
# starts `tessera serve` (one worker per core) and runs bench_est for
# SECONDS (default 10) per case, with 1 and 2 client threads (and tokens
# with 8: requests at once in each worker, whose mints' audit rows the
# store's group commit can then put in one fsync):
#   token   POST /token: the device's certificate checked against the
#           store, claims built, ES256 signed in SoftHSMv2, the mint
#           audited (committed, synchronous=FULL) before the answer
#   jwks    GET /.well-known/jwks.json on the same kind of connection: the
#           TLS and HTTP path and a store read, no signature, no commit
# Then bench_hsm measures ES256 (P-256) signatures per second through the
# same PKCS#11 path alone. The ratios say what bounds a token: the
# transport (token/jwks) or the signature (token/sign).
secs=${1:-10}
. "$(dirname "$0")/lib.sh"
BENCH=$build/bench_est
workers=$(nproc)
P1=$(free_port)
P2=$(free_port "$P1")
D=$W/var

echo "== setup (data directory $D)"
"$TESSERA" init --data "$D" --name "Token Bench" >/dev/null 2>&1
no_rate_limits "$D"
serve_start "$D" "$P1" "$P2" "$workers"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/dev.key" -subj /CN=bench-device-1 -out "$W/dev.csr" 2>/dev/null
"$TESSERA" issue --data "$D" --csr "$W/dev.csr" --profile device \
	--out "$W/dev.pem" >/dev/null 2>&1

declare -A rate groups
run() { # NAME MODE THREADS
	local out g0
	echo "== $1 ($secs s)"
	g0=$(commit_groups "$P2")
	out=$("$BENCH" --connect "127.0.0.1:$P1" --name localhost \
		--cafile "$D/ca/chain.pem" --cert "$W/dev.pem" --key "$W/dev.key" \
		--prefix bench --seconds "$secs" --mode "$2" --threads "$3")
	groups[$1]=$(per_commit "$g0" "$(commit_groups "$P2")")
	echo "   $out; writes per commit ${groups[$1]} [$(uptime | sed 's/.*load/load/')]"
	rate[$1]=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
	grep -q ' failed=0 ' <<<"$out" ||
		echo "   WARNING: some requests failed (see above)"
}
run token1 token 1
run token2 token 2
run token8 token 8
run jwks1 jwks 1
run jwks2 jwks 2
audited=$(sqlite3 "$D/tessera.db" "SELECT count(*) FROM audit WHERE action = 'token'")
serve_stop

echo "== ES256 signatures alone (bench_hsm, P-256)"
hsm=$("$build/bench_hsm" "$((secs < 5 ? secs : 5))" | grep -E '^ECDSA P-256 [12] threads? ' | head -2)
echo "$hsm" | sed 's/^/   /'
sig1=$(sed -n '1s/.* \([0-9.]*\) sig\/s .*/\1/p' <<<"$hsm")
sig2=$(sed -n '2s/.* \([0-9.]*\) sig\/s .*/\1/p' <<<"$hsm")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "Device tokens per second; $(nproc) cores shared by the server ($workers"
echo "workers) and the load generator. Every token is signed in SoftHSMv2 and"
echo "its mint audited before the answer ($audited mints audited in this run)."
echo
printf '%-34s %10s %12s %12s\n' case 'per s' 'x jwks' 'x ES256 sign'
printf '%-34s %10s %12s %12s\n' "POST /token, 1 connection" "${rate[token1]}" \
	"$(ratio "${rate[token1]}" "${rate[jwks1]}")" "$(ratio "${rate[token1]}" "$sig1")"
printf '%-34s %10s %12s %12s\n' "POST /token, 2 connections" "${rate[token2]}" \
	"$(ratio "${rate[token2]}" "${rate[jwks2]}")" "$(ratio "${rate[token2]}" "$sig2")"
printf '%-34s %10s %12s %12s\n' "POST /token, 8 connections" "${rate[token8]}" \
	"" "$(ratio "${rate[token8]}" "$sig2")"
echo "(writes per commit: ${groups[token1]}, ${groups[token2]} and ${groups[token8]}" \
	"with 1, 2 and 8 connections)"
printf '%-34s %10s\n' "GET jwks.json, 1 connection" "${rate[jwks1]}"
printf '%-34s %10s\n' "GET jwks.json, 2 connections" "${rate[jwks2]}"
printf '%-34s %10s\n' "ES256 in SoftHSMv2, 1 thread" "$sig1"
printf '%-34s %10s\n' "ES256 in SoftHSMv2, 2 threads" "$sig2"
