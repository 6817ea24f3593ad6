#!/usr/bin/env bash
# bench/ocsp.sh [SECONDS]: OCSP responses per second from tessera's
# responder against `openssl ocsp -index ... -port` answering the same
# certificates, same machine, same run. Not a test; ctest never runs it.
#
# Builds, makes a fresh data directory under /tmp, starts `tessera serve`
# (one worker per core), issues 16 device certificates and revokes 4 of them
# through the API. The peer is `openssl ocsp` as a responder: an index.txt
# with the same serials (V, or R with the same reason), a software P-256
# responder key and self-signed certificate made with openssl, -CA the
# issuing CA certificate. openssl ocsp signs every response; by default it
# is one process handling one connection at a time (a row with -multi 2,
# its OpenSSL 3.0 option for several processes, is added for reference).
#
# bench_ocsp sends, for SECONDS (default 10) per case, with 1 and 2 client
# threads:
#   GET keep-alive    nonce-less GET /ocsp/<base64> over HTTP/1.1 keep-alive
#                     (tessera answers it from its pre-signed responses)
#   GET new conn      the same, a new TCP connection per request
#   POST nonce        POST with a fresh 32-byte nonce per request over
#                     keep-alive (signed online: tessera in the token,
#                     openssl with its key file)
# and prints a table with the ratio tessera / openssl. Then nginx serves
# one of tessera's stored answers from a file for every GET (the ceiling
# of HTTP on these cores with the same client), 2 threads, keep-alive and
# a new connection each.
secs=${1:-10}
. "$(dirname "$0")/lib.sh"
BENCH=$build/bench_ocsp
workers=$(nproc)
OSSL=
P1=$(free_port)
P2=$(free_port "$P1")
P3=$(free_port "$P1" "$P2")
D=$W/var

echo "== setup (data directory $D)"
"$TESSERA" init --data "$D" --name "OCSP Bench" \
	--publish-url "http://127.0.0.1:$P2" >/dev/null 2>&1
# The bench measures the responder, not the per-address limit.
no_rate_limits "$D"
serve_start "$D" "$P1" "$P2" "$workers"

# 16 device certificates; 4 revoked (keyCompromise) over the API.
certs=()
: >"$W/index.txt"
for i in $(seq -w 1 16); do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$W/d$i.key" -subj "/CN=ocsp-bench-$i" -out "$W/d$i.csr" 2>/dev/null
	"$TESSERA" issue --data "$D" --csr "$W/d$i.csr" --profile device \
		--out "$W/d$i.pem" >/dev/null 2>&1
	certs+=("$W/d$i.pem")
done
revoked=" 03 07 11 15 "
for i in $revoked; do
	s=$(openssl x509 -in "$W/d$i.pem" -noout -serial | cut -d= -f2)
	code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$D/ca/chain.pem" \
		--cert "$D/admin/admin.pem" --key "$D/admin/admin.key" \
		-H 'Content-Type: application/json' -d '{"reason":"keyCompromise"}' \
		"https://localhost:$P1/api/v1/certificates/$s/revoke")
	[ "$code" = 200 ] || echo "   WARNING: revoking $s answered HTTP $code"
done
# The openssl ca database with the same serials: V, or R at the time
# tessera's store recorded.
for i in $(seq -w 1 16); do
	s=$(openssl x509 -in "$W/d$i.pem" -noout -serial | cut -d= -f2)
	exp=$(date -u -d "$(openssl x509 -in "$W/d$i.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
	subj=$(openssl x509 -in "$W/d$i.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
	case $revoked in
	*" $i "*)
		rt=$(sqlite3 "$D/tessera.db" "SELECT revoked_at FROM certificates WHERE serial = '$s'" 2>/dev/null || true)
		rt=$(date -u -d "@${rt:-$(date +%s)}" +%y%m%d%H%M%SZ)
		printf 'R\t%s\t%s,keyCompromise\t%s\tunknown\t%s\n' "$exp" "$rt" "$s" "$subj" ;;
	*) printf 'V\t%s\t\t%s\tunknown\t%s\n' "$exp" "$s" "$subj" ;;
	esac
done >"$W/index.txt"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/resp.key" -out "$W/resp.pem" -subj "/CN=openssl ocsp responder" \
	-days 30 -addext "extendedKeyUsage=OCSPSigning" 2>/dev/null
ossl_start() { # [openssl ocsp options...]
	openssl ocsp -index "$W/index.txt" -port "$P3" -rsigner "$W/resp.pem" \
		-rkey "$W/resp.key" -CA "$D/ca/issuing.pem" -nmin 60 -ignore_err "$@" \
		>"$W/ossl.out" 2>"$W/ossl.err" &
	OSSL=$!
	for _ in $(seq 1 100); do
		[ -n "$(ss -ltnH "sport = :$P3" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	echo "openssl ocsp did not start" >&2
	cat "$W/ossl.err" >&2
	exit 1
}
bench_stop() { ossl_stop; }
ossl_stop() {
	# With -multi the parent ignores SIGTERM and respawns its children,
	# and once it is gone they are no longer its children: openssl puts
	# them in a process group of their own, so SIGKILL that group (the
	# parent and every child at once); without -multi, just the process.
	if [ -n "$OSSL" ]; then
		if [ "$(ps -o pgid= -p "$OSSL" | tr -d ' ')" = "$OSSL" ]; then
			kill -KILL -- "-$OSSL" 2>/dev/null || true
		else
			kill -KILL "$OSSL" 2>/dev/null || true
		fi
		wait "$OSSL" 2>/dev/null || true
	fi
	OSSL=
	for _ in $(seq 1 100); do
		[ -z "$(ss -ltnH "sport = :$P3" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
}
ossl_start

T_ARGS=(--connect "127.0.0.1:$P2" --path /ocsp --issuer "$D/ca/issuing.pem")
O_ARGS=(--connect "127.0.0.1:$P3" --path "" --issuer "$D/ca/issuing.pem")

# Both responders must say the same: 12 good, 4 revoked, GET and POST.
for who in T O; do
	for m in get post; do
		if [ $who = T ]; then a=("${T_ARGS[@]}"); else a=("${O_ARGS[@]}"); fi
		out=$("$BENCH" "${a[@]}" --mode $m --check "${certs[@]}")
		g=$(grep -c ': HTTP 200 good$' <<<"$out" || true)
		r=$(grep -c ': HTTP 200 revoked$' <<<"$out" || true)
		echo "   check $who $m: $g good, $r revoked"
		[ "$g" = 12 ] && [ "$r" = 4 ] || {
			echo "   WARNING: want 12 good and 4 revoked:" >&2
			sed 's/^/      /' <<<"$out" >&2
		}
	done
done

declare -A rate fails conns
case_run() { # KEY ARGS...
	local key=$1 out
	shift
	out=$("$BENCH" --seconds "$secs" "$@" "${certs[@]}")
	echo "   $key: $out"
	rate[$key]=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
	fails[$key]=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$out")
	conns[$key]=$(sed -n 's/.* connects=\([0-9]*\).*/\1/p' <<<"$out")
	[ "${fails[$key]}" = 0 ] || echo "   WARNING: $key: ${fails[$key]} failed responses"
}
scen=(getka getnc post)
declare -A sargs=([getka]="--mode get" [getnc]="--mode get --close"
	[post]="--mode post")
declare -A sname=([getka]="GET no nonce, keep-alive"
	[getnc]="GET no nonce, new connection each"
	[post]="POST with nonce, keep-alive")
for s in "${scen[@]}"; do
	for t in 1 2; do
		echo "== $s, $t thread(s), $secs s each"
		# shellcheck disable=SC2086
		case_run "T-$s-$t" "${T_ARGS[@]}" ${sargs[$s]} --threads "$t"
		# shellcheck disable=SC2086
		case_run "O-$s-$t" "${O_ARGS[@]}" ${sargs[$s]} --threads "$t"
	done
done
ossl_stop
ossl_start -multi 2
echo "== openssl ocsp -multi 2, 2 threads"
sleep 0.5
for s in "${scen[@]}"; do
	# shellcheck disable=SC2086
	case_run "M-$s-2" "${O_ARGS[@]}" ${sargs[$s]} --threads 2
done
ossl_stop

# The ceiling: nginx (one worker process per core) serving one of
# tessera's stored answers from a file for any GET /ocsp/..., the same
# client: what HTTP on loopback and the load generator leave on these
# cores.
mkdir -p "$W/ngx"
openssl ocsp -issuer "$D/ca/issuing.pem" -cert "${certs[0]}" -no_nonce \
	-noverify -url "http://127.0.0.1:$P2/ocsp" -respout "$W/ngx/resp.der" \
	>/dev/null 2>&1 || true
[ -s "$W/ngx/resp.der" ] || echo "   WARNING: no stored answer for nginx to serve"
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
		listen 127.0.0.1:$P3;
		root $W/ngx;
		location /ocsp/ {
			default_type application/ocsp-response;
			try_files /resp.der =404;
		}
	}
}
NGINX
NGX=
ngx_stop() {
	if [ -n "$NGX" ]; then
		kill -QUIT "$NGX" 2>/dev/null || true
		wait "$NGX" 2>/dev/null || true
	fi
	NGX=
}
bench_stop() {
	ossl_stop
	ngx_stop
}
nginx -c "$W/nginx.conf" -p "$W" >/dev/null 2>&1 &
NGX=$!
for _ in $(seq 1 100); do
	[ -n "$(ss -ltnH "sport = :$P3" 2>/dev/null)" ] && break
	sleep 0.05
done
echo "== nginx, one stored answer from a file, 2 threads"
N_ARGS=(--connect "127.0.0.1:$P3" --path /ocsp --issuer "$D/ca/issuing.pem")
for s in getka getnc; do
	# shellcheck disable=SC2086
	case_run "N-$s-2" "${N_ARGS[@]}" ${sargs[$s]} --threads 2
done
ngx_stop

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
echo
echo "OCSP responses per second; $(nproc) cores shared by the responder"
echo "($workers tessera workers; openssl ocsp one process) and the load"
echo "generator; $(openssl version | cut -d' ' -f1-2). tessera signs online in"
echo "SoftHSMv2 over PKCS#11 (P-256) and answers nonce-less requests from"
echo "pre-signed responses in its store; openssl ocsp signs every response"
echo "with a P-256 key file. 16 certificates, 4 revoked; SHA-1 CertIDs."
echo
printf '%-36s %3s %11s %11s %8s %13s\n' scenario thr 'tessera/s' 'openssl/s' ratio 'conns T/O'
for s in "${scen[@]}"; do
	for t in 1 2; do
		printf '%-36s %3s %11s %11s %8s %13s\n' "${sname[$s]}" "$t" \
			"${rate[T-$s-$t]}" "${rate[O-$s-$t]}" \
			"$(ratio "${rate[T-$s-$t]}" "${rate[O-$s-$t]}")" \
			"${conns[T-$s-$t]}/${conns[O-$s-$t]}"
	done
done
echo
echo "openssl ocsp -multi 2 (2 responder processes), 2 client threads:"
for s in "${scen[@]}"; do
	printf '%-36s %3s %11s %11s %8s %13s\n' "${sname[$s]}" 2 \
		"${rate[T-$s-2]}" "${rate[M-$s-2]}" \
		"$(ratio "${rate[T-$s-2]}" "${rate[M-$s-2]}")" \
		"${conns[T-$s-2]}/${conns[M-$s-2]}"
done
echo
echo "nginx serving one stored answer from a file (the ceiling), 2 client threads:"
for s in getka getnc; do
	printf '%-36s %3s %11s %11s %8s %13s\n' "${sname[$s]}" 2 \
		"${rate[T-$s-2]}" "${rate[N-$s-2]}" \
		"$(ratio "${rate[T-$s-2]}" "${rate[N-$s-2]}")" \
		"${conns[T-$s-2]}/${conns[N-$s-2]}"
done
echo
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
