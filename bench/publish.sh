#!/usr/bin/env bash
# bench/publish.sh [SECONDS]: static documents over keep-alive mutual TLS
# from tessera against nginx serving the same bytes with the same server
# certificate, same machine, same run. Not a test; ctest never runs it.
#
# Builds, makes a fresh data directory under /tmp, starts `tessera serve`
# (one worker per core), enrolls one device and copies tessera's JWKS and
# cacerts answers into files that nginx (one worker process per core,
# TLS 1.2/1.3, client certificates asked for and not checked) serves as
# they are. bench_est then sends, for SECONDS (default 10) per case, with
# 1 and 2 keep-alive connections (each with the device's certificate):
#   jwks     GET /.well-known/jwks.json
#   cacerts  GET /.well-known/est/cacerts
# and prints a table with the ratio tessera / nginx: nginx's rate is what
# TLS, HTTP and the load generator leave on these cores for a static file.
secs=${1:-10}
. "$(dirname "$0")/lib.sh"
BENCH=$build/bench_est
workers=$(nproc)
P1=$(free_port)
P2=$(free_port "$P1")
P3=$(free_port "$P1" "$P2")
D=$W/var
NGX=

echo "== setup (data directory $D)"
"$TESSERA" init --data "$D" --name "Publish Bench" >/dev/null 2>&1
no_rate_limits "$D"
serve_start "$D" "$P1" "$P2" "$workers"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/dev.key" -subj /CN=bench-device-1 -out "$W/dev.csr" 2>/dev/null
"$TESSERA" issue --data "$D" --csr "$W/dev.csr" --profile device \
	--out "$W/dev.pem" >/dev/null 2>&1

mkdir -p "$W/ngx/.well-known/est"
CURL=(curl -sS --fail --cacert "$D/ca/chain.pem" --cert "$W/dev.pem" --key "$W/dev.key")
"${CURL[@]}" -o "$W/ngx/.well-known/jwks.json" "https://localhost:$P1/.well-known/jwks.json"
"${CURL[@]}" -o "$W/ngx/.well-known/est/cacerts" "https://localhost:$P1/.well-known/est/cacerts"
cat >"$W/nginx.conf" <<EOF
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
		listen 127.0.0.1:$P3 ssl;
		ssl_certificate $D/tls/server.pem;
		ssl_certificate_key $D/tls/server.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_verify_client optional_no_ca;
		root $W/ngx;
		location = /.well-known/jwks.json { default_type application/json; }
		location = /.well-known/est/cacerts { default_type application/pkcs7-mime; }
	}
}
EOF
bench_stop() {
	if [ -n "$NGX" ]; then
		kill -QUIT "$NGX" 2>/dev/null || true
		wait "$NGX" 2>/dev/null || true
	fi
	NGX=
}
nginx -c "$W/nginx.conf" -p "$W" >/dev/null 2>&1 &
NGX=$!
for _ in $(seq 1 100); do
	[ -n "$(ss -ltnH "sport = :$P3" 2>/dev/null)" ] && break
	sleep 0.05
done
for f in jwks.json est/cacerts; do
	cmp -s <("${CURL[@]}" "https://localhost:$P3/.well-known/$f") "$W/ngx/.well-known/$f" ||
		echo "   WARNING: nginx does not serve tessera's $f as it is"
done

declare -A rate
run() { # KEY PORT MODE THREADS
	local out
	out=$("$BENCH" --connect "127.0.0.1:$2" --name localhost \
		--cafile "$D/ca/chain.pem" --cert "$W/dev.pem" --key "$W/dev.key" \
		--prefix bench --seconds "$secs" --mode "$3" --threads "$4")
	echo "   $1: $out"
	rate[$1]=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
	grep -q ' failed=0 ' <<<"$out" ||
		echo "   WARNING: $1: some requests failed (see above)"
}
for m in jwks cacerts; do
	for t in 1 2; do
		echo "== $m, $t connection(s), $secs s each"
		run "T-$m-$t" "$P1" "$m" "$t"
		run "N-$m-$t" "$P3" "$m" "$t"
	done
done
bench_stop

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "Static documents over keep-alive mutual TLS, per second; $(nproc) cores"
echo "shared by tessera ($workers workers), nginx ($workers workers) and the load"
echo "generator; load $(cut -d' ' -f1-3 /proc/loadavg)."
echo
printf '%-28s %5s %11s %11s %7s\n' document conns 'tessera/s' 'nginx/s' ratio
for m in jwks cacerts; do
	for t in 1 2; do
		printf '%-28s %5s %11s %11s %7s\n' "$m" "$t" "${rate[T-$m-$t]}" \
			"${rate[N-$m-$t]}" "$(ratio "${rate[T-$m-$t]}" "${rate[N-$m-$t]}")"
	done
done
