#!/usr/bin/env bash
# bench/ocsp_ab.sh OTHER_BUILD [ROUNDS] [SECONDS]: this tree's OCSP
# responder against another build's (OTHER_BUILD: a build directory of
# another checkout, e.g. main before a change), with nginx serving one
# stored answer from a file as the ceiling, in interleaved rounds: on a
# machine shared with other work one run swings by 2x, so every case runs
# ROUNDS (default 5) times SECONDS (default 3) for each responder in turn
# and the medians are printed, with the CPU each responder's processes
# (supervisor, signer, workers) used per answer, which load moves less,
# and their threads' context switches per answer (each wake-up of a
# thread that waited is one). Not a test; ctest never runs it.
#
# Cases (bench_ocsp, 2 client threads): GET keep-alive, GET with a new
# connection each, POST with a nonce (signed online; nginx cannot);
# OCSP_AB_CASES="post" runs only those named.
other=${1:?usage: bench/ocsp_ab.sh OTHER_BUILD [ROUNDS] [SECONDS]}
rounds=${2:-5}
secs=${3:-3}
. "$(dirname "$0")/lib.sh"
other=$(cd "$other" && pwd)
BENCH=$build/bench_ocsp
workers=$(nproc)
NGX=
declare -A SRV DIR PORT

# start KEY BUILD: a data directory, serve, 16 certificates, 4 revoked.
start() {
	local key=$1 b=$2 d=$W/$1 p1 p2 i s
	p1=$(free_port)
	p2=$(free_port "$p1" ${PORT[*]:-})
	"$b/tessera" init --data "$d" --name "OCSP AB $key" \
		--publish-url "http://127.0.0.1:$p2" >/dev/null 2>&1
	no_rate_limits "$d"
	"$b/tessera" serve --data "$d" --listen "127.0.0.1:$p1" \
		--publish "127.0.0.1:$p2" --workers "$workers" \
		>"$W/$key.out" 2>"$W/$key.err" &
	SRV[$key]=$!
	for i in $(seq 1 300); do
		grep -q "serving https" "$W/$key.err" && break
		sleep 0.1
	done
	for i in $(seq -w 1 16); do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout "$W/$key-d$i.key" -subj "/CN=ab-$i" \
			-out "$W/$key-d$i.csr" 2>/dev/null
		"$b/tessera" issue --data "$d" --csr "$W/$key-d$i.csr" \
			--profile device --out "$W/$key-d$i.pem" >/dev/null 2>&1
	done
	for i in 03 07 11 15; do
		s=$(openssl x509 -in "$W/$key-d$i.pem" -noout -serial | cut -d= -f2)
		curl -sS -o /dev/null --cacert "$d/ca/chain.pem" \
			--cert "$d/admin/admin.pem" --key "$d/admin/admin.key" \
			-H 'Content-Type: application/json' \
			-d '{"reason":"keyCompromise"}' \
			"https://localhost:$p1/api/v1/certificates/$s/revoke"
	done
	DIR[$key]=$d
	PORT[$key]=$p2
}
bench_stop() {
	local k
	for k in "${!SRV[@]}"; do
		kill -TERM "${SRV[$k]}" 2>/dev/null || true
		wait "${SRV[$k]}" 2>/dev/null || true
	done
	if [ -n "$NGX" ]; then
		kill -QUIT "$NGX" 2>/dev/null || true
		wait "$NGX" 2>/dev/null || true
	fi
}
# switches KEY: context switches so far of KEY's serve processes' threads
# (each wake-up of a thread that waited is one; threads that ended are
# not counted).
switches() {
	local p
	for p in $(pgrep -f "serve --data ${DIR[$1]} " || true); do
		cat /proc/"$p"/task/*/status 2>/dev/null || true
	done | awk '/^(non)?voluntary_ctxt_switches:/ { t += $2 } END { print t + 0 }'
}
# cpu KEY: CPU ticks used so far by KEY's serve processes.
cpu() {
	local t=0 p f
	for p in $(pgrep -f "serve --data ${DIR[$1]} " || true); do
		read -ra f <<<"$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null)"
		t=$((t + ${f[11]:-0} + ${f[12]:-0}))
	done
	echo "$t"
}

echo "== setup: this tree ($build) and the other ($other)"
start new "$build"
start old "$other"
mkdir -p "$W/ngx"
openssl ocsp -issuer "${DIR[new]}/ca/issuing.pem" -cert "$W/new-d01.pem" \
	-no_nonce -noverify -url "http://127.0.0.1:${PORT[new]}/ocsp" \
	-respout "$W/ngx/resp.der" >/dev/null 2>&1 || true
PORT[ngx]=$(free_port ${PORT[*]})
cat >"$W/nginx.conf" <<NGINX
worker_processes $workers;
pid $W/nginx.pid;
error_log $W/nginx.err;
daemon off;
$([ "$(id -u)" = 0 ] && echo "user root;")
events { worker_connections 1024; }
http {
	access_log off;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:${PORT[ngx]};
		root $W/ngx;
		location /ocsp/ {
			default_type application/ocsp-response;
			try_files /resp.der =404;
		}
	}
}
NGINX
nginx -c "$W/nginx.conf" -p "$W" >/dev/null 2>&1 &
NGX=$!
sleep 0.5

declare -A RATES CPUS SWITCHES
# OCSP_AB_CASES: the cases to run (default all three).
cases=${OCSP_AB_CASES:-getka getnc post}
case_args() { # CASE
	case $1 in
	getka) echo "--mode get" ;;
	getnc) echo "--mode get --close" ;;
	post) echo "--mode post" ;;
	esac
}
for r in $(seq 1 "$rounds"); do
	for c in $cases; do
		for k in new old ngx; do
			[ "$k" = ngx ] && [ "$c" = post ] && continue
			kk=$k
			[ "$k" = ngx ] && kk=new # its certificates and issuer
			c0=0 s0=0
			[ "$k" != ngx ] && c0=$(cpu "$k") && s0=$(switches "$k")
			# shellcheck disable=SC2046
			out=$("$BENCH" --connect "127.0.0.1:${PORT[$k]}" --path /ocsp \
				--issuer "${DIR[$kk]}/ca/issuing.pem" --seconds "$secs" \
				--threads 2 $(case_args "$c") "$W/$kk"-d*.pem)
			n=$(sed -n 's/.* responses=\([0-9]*\).*/\1/p' <<<"$out")
			rate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
			grep -q ' failed=0 ' <<<"$out" || echo "   WARNING: $k $c: $out"
			RATES[$k-$c]="${RATES[$k-$c]:-} $rate"
			if [ "$k" != ngx ] && [ "${n:-0}" -gt 0 ]; then
				c1=$(cpu "$k")
				s1=$(switches "$k")
				CPUS[$k-$c]="${CPUS[$k-$c]:-} $(awk -v t=$((c1 - c0)) -v n="$n" \
					-v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')"
				SWITCHES[$k-$c]="${SWITCHES[$k-$c]:-} $(awk -v t=$((s1 - s0)) \
					-v n="$n" 'BEGIN { printf "%.2f", t / n }')"
			fi
		done
	done
	echo "   round $r of $rounds done (load $(cut -d' ' -f1 /proc/loadavg))"
done

median() { tr ' ' '\n' | { grep . || true; } | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "OCSP answers per second, 2 client threads, medians of $rounds rounds of"
echo "$secs s, interleaved; $(nproc) cores shared with the load generator and"
echo "whatever else runs (load $(cut -d' ' -f1-3 /proc/loadavg)); CPU: the"
echo "responder's processes, microseconds per answer; cs: their threads'"
echo "context switches per answer."
echo
printf '%-22s %10s %10s %10s %8s %8s %9s %9s %7s %7s\n' case this other nginx \
	this/oth this/ngx 'cpu this' 'cpu oth' 'cs this' 'cs oth'
for c in $cases; do
	a=$(median <<<"${RATES[new-$c]}")
	b=$(median <<<"${RATES[old-$c]}")
	n=$(median <<<"${RATES[ngx-$c]:-}")
	printf '%-22s %10s %10s %10s %8s %8s %9s %9s %7s %7s\n' "$c" "$a" "$b" "$n" \
		"$(ratio "$a" "$b")" "$(ratio "$a" "$n")" \
		"$(median <<<"${CPUS[new-$c]}")" "$(median <<<"${CPUS[old-$c]}")" \
		"$(median <<<"${SWITCHES[new-$c]}")" "$(median <<<"${SWITCHES[old-$c]}")"
done
echo
echo "each round's rate (this / other):"
for c in $cases; do
	echo "  $c: this${RATES[new-$c]}; other${RATES[old-$c]}"
done
