#!/usr/bin/env bash
# bench/est.sh [SECONDS]: EST enrollment throughput of tessera against
# `openssl ca` as the peer. Not a test; ctest never runs it.
#
# Builds, makes a fresh data directory under /tmp, starts `tessera serve`
# (2 workers) and runs bench_est for SECONDS (default 10) per scenario:
#   station keep-alive   one TLS connection per thread, client certificate
#   first boot           a new TLS connection per enrollment, HTTP Basic with
#                        a one-time secret minted (via the API) beforehand
# station with 1, 2 and 8 threads, first boot with 1, 2 and 8 (8 station
# connections: 4 requests at once per worker, so the store's group commit
# has writes to group; "per fsync" is the writes each commit carried, from
# /metrics, secrets minted before the clock included). Then `openssl ca` (software P-256 CA key, a
# minimal openssl.cnf, -batch -notext) issues the CSRs tessera enrolled in
# the first-boot 1-thread run: once with one process per CSR, as operators
# script it, and once as a single -infiles batch. Prints a table, with the
# CPU each enrollment cost the server and the load generator (bench_est's
# line also says where a request's time went on the client: tcp, tls,
# http, close).
# TESSERA_BENCH_STORE=postgresql://... puts the store in that (empty)
# PostgreSQL database instead of DIR/tessera.db. TESSERA_BENCH_ROOT_CURVE
# (P-256 or P-384) is init's --root-curve: what a device's TLS client
# verifies on every first boot.
secs=${1:-10}
. "$(dirname "$0")/lib.sh"
BENCH=$build/bench_est
P1=$(free_port)
P2=$(free_port "$P1")
D=$W/var

echo "== setup (data directory $D)"
"$TESSERA" init --data "$D" --name "EST Bench" \
	${TESSERA_BENCH_STORE:+--store "$TESSERA_BENCH_STORE"} \
	${TESSERA_BENCH_ROOT_CURVE:+--root-curve "$TESSERA_BENCH_ROOT_CURVE"} \
	>/dev/null 2>&1
no_rate_limits "$D"
serve_start "$D" "$P1" "$P2" 2
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/station.key" -subj /CN=station-1 -out "$W/station.csr" 2>/dev/null
"$TESSERA" issue --data "$D" --csr "$W/station.csr" --profile station \
	--out "$W/station.pem" >/dev/null 2>&1

COMMON=(--connect "127.0.0.1:$P1" --name localhost --cafile "$D/ca/chain.pem"
	--seconds "$secs")
STA=(--mode station --cert "$W/station.pem" --key "$W/station.key")
# First boot: the admin certificate only mints the secrets; the devices
# enroll without a certificate.
FB=(--mode firstboot --cert "$D/admin/admin.pem" --key "$D/admin/admin.key")

# serve_cpu: CPU seconds used so far by tessera serve and its processes
# (supervisor, workers, signer).
serve_cpu() {
	local p t=0 hz
	hz=$(getconf CLK_TCK)
	for p in "$SERVE" $(pgrep -P "$SERVE"); do
		t=$(awk -v t="$t" -v hz="$hz" '{ print t + ($14 + $15) / hz }' \
			"/proc/$p/stat" 2>/dev/null || echo "$t")
	done
	echo "$t"
}

declare -A rate count groups srv cli
run() { # NAME THREADS POOL-PER-THREAD args...
	local name=$1 threads=$2 pool=$3 out g0 c0 c1 pid i
	shift 3
	echo "== $name ($secs s)"
	# The clock (and the server's CPU count) starts once the CSRs and
	# secrets are made: bench_est waits for $W/go.
	rm -f "$W/go"
	"$BENCH" "${COMMON[@]}" --threads "$threads" --pool "$pool" \
		--prefix "$name" --wait "$W/go" "$@" >"$W/bench.out" 2>"$W/bench.err" &
	pid=$!
	for i in $(seq 1 6000); do
		grep -q 'bench_est: ready' "$W/bench.err" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	g0=$(commit_groups "$P2")
	c0=$(serve_cpu)
	touch "$W/go"
	wait "$pid" || true
	c1=$(serve_cpu)
	grep -v 'bench_est: ready' "$W/bench.err" >&2 || true
	out=$(cat "$W/bench.out")
	groups[$name]=$(per_commit "$g0" "$(commit_groups "$P2")")
	echo "   $out; writes per commit ${groups[$name]} [$(uptime | sed 's/.*load/load/')]"
	rate[$name]=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
	count[$name]=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$out")
	# CPU per enrollment, ms: the server's (all its processes) and the
	# load generator's (which shares the cores).
	srv[$name]=$(awk -v a="$c0" -v b="$c1" -v n="${count[$name]:-0}" \
		'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1000 / n }')
	cli[$name]=$(sed -n 's/.* cpu=\([0-9.]*\).*/\1/p' <<<"$out" |
		awk -v n="${count[$name]:-0}" '{ if (n > 0) printf "%.2f", $1 * 1000 / n }')
	grep -q ' failed=0 ' <<<"$out" ||
		echo "   WARNING: some enrollments failed (see above)"
	[ "${count[$name]}" -lt $((pool * threads)) ] ||
		echo "   note: the CSR pool ran out before the time did"
}
mkdir -p "$W/fb1"
run st1 1 $((secs * 600)) "${STA[@]}"
run st2 2 $((secs * 450)) "${STA[@]}"
run st8 8 $((secs * 150)) "${STA[@]}"
run fb1 1 $((secs * 220)) "${FB[@]}" --save "$W/fb1"
run fb2 2 $((secs * 160)) "${FB[@]}"
run fb8 8 $((secs * 100)) "${FB[@]}"
serve_stop

# The peer: openssl ca with a software P-256 key, the device profile's
# extensions, the CSRs of run fb1.
O=$W/ossl
mkdir -p "$O/certs"
: >"$O/index.txt"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$O/ca.key" -out "$O/ca.pem" -subj "/O=bench/CN=openssl ca" \
	-days 3650 2>/dev/null
cat >"$O/openssl.cnf" <<EOF
[ ca ]
default_ca = bench
[ bench ]
dir = $O
database = \$dir/index.txt
new_certs_dir = \$dir/certs
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
rand_serial = yes
default_md = sha256
default_days = 30
unique_subject = no
copy_extensions = none
policy = any
x509_extensions = device
[ any ]
commonName = supplied
[ device ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
mapfile -t csrs < <(find "$W/fb1" -name '*.csr' | sort)
n=${#csrs[@]}
echo "== openssl ca, one process per CSR ($n CSRs)"
s=$(date +%s.%N)
for f in "${csrs[@]}"; do
	openssl ca -config "$O/openssl.cnf" -batch -notext -in "$f" \
		-out "$O/one.pem" 2>/dev/null
done
e=$(date +%s.%N)
ossl_one=$(awk -v n="$n" -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", n / (e - s) }')
echo "   $n in $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }') s"
got=$(wc -l <"$O/index.txt")
[ "$got" = "$n" ] || echo "   WARNING: issued $got of $n"
: >"$O/index.txt"
rm -f "$O"/certs/*
echo "== openssl ca -infiles, one batch ($n CSRs)"
s=$(date +%s.%N)
# (Each certificate goes to new_certs_dir; OpenSSL 3.0's -out would keep
# only the last one.)
openssl ca -config "$O/openssl.cnf" -batch -notext -infiles "${csrs[@]}" \
	2>/dev/null >/dev/null
e=$(date +%s.%N)
ossl_batch=$(awk -v n="$n" -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", n / (e - s) }')
echo "   $n in $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }') s"
got=$(wc -l <"$O/index.txt")
[ "$got" = "$n" ] || echo "   WARNING: the batch issued $got of $n"

echo
echo "EST enrollments per second; $(nproc) cores, shared by the server, its"
echo "2 workers and the load generator (and openssl ca runs alone)."
echo "tessera signs in SoftHSMv2 over PKCS#11 and commits every certificate"
echo "(SQLite, synchronous=FULL) before answering; openssl ca signs with a"
echo "key file and does not fsync its index."
echo
echo "srv ms and cli ms: CPU per enrollment of the server (all its processes)"
echo "and of the load generator (TLS client, same cores), in ms."
echo
printf '%-38s %10s %12s %12s %10s %7s %7s\n' scenario 'enroll/s' \
	'x ossl-1/CSR' 'x ossl-batch' 'per fsync' 'srv ms' 'cli ms'
row() {
	printf '%-38s %10s %12s %12s %10s %7s %7s\n' "$1" "$2" \
		"$(awk -v a="$2" -v b="$ossl_one" 'BEGIN { printf "%.2f", a / b }')" \
		"$(awk -v a="$2" -v b="$ossl_batch" 'BEGIN { printf "%.2f", a / b }')" \
		"${3:-}" "${4:-}" "${5:-}"
}
for r in st1:"station keep-alive, 1 thread" st2:"station keep-alive, 2 threads" \
	st8:"station keep-alive, 8 threads" fb1:"first boot, 1 thread" \
	fb2:"first boot, 2 threads" fb8:"first boot, 8 threads"; do
	n=${r%%:*}
	row "tessera ${r#*:}" "${rate[$n]}" "${groups[$n]}" "${srv[$n]}" "${cli[$n]}"
done
row "openssl ca, 1 process per CSR" "$ossl_one"
row "openssl ca -infiles, 1 batch" "$ossl_batch"
