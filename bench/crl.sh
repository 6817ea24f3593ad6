#!/usr/bin/env bash
# bench/crl.sh [N...]: CRL build time of tessera's builder (ca_crl_build)
# against `openssl ca -gencrl` on the same revoked entries, same machine,
# same run. Not a test; ctest never runs it. Default N: 100000 1000000.
#
# One software P-256 CA (openssl req) signs both. For each N, bench_crl
# writes an `openssl ca` database (index.txt) with the same N revoked
# serials, dates and reasons it feeds the builder, builds and checks its CRL;
# then `openssl ca -gencrl` (capped at 120 s) builds one from index.txt.
# Both CRLs are checked with `openssl crl -verify` and their entries counted.
# Prints wall seconds and peak RSS of each and the ratio.
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
. "$(dirname "$0")/lib.sh"
BENCH=$build/bench_crl

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$W/ca.key" 2>/dev/null
openssl req -x509 -new -key "$W/ca.key" -sha256 -days 3650 \
	-subj "/CN=bench CRL CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-addext "subjectKeyIdentifier=hash" -out "$W/ca.pem"

# Count the entries of a CRL (DER or PEM).
entries() {
	openssl crl -in "$1" -inform "$2" -noout -text |
		grep -c 'Serial Number:' || true
}

echo "CRL build, software P-256 CA, SHA-256; $(nproc) CPUs;" \
	"$(openssl version | cut -d' ' -f1-2)"
rows=()
for n in "${sizes[@]}"; do
	d=$W/$n
	mkdir -p "$d"
	cp "$W/ca.key" "$W/ca.pem" "$d/"

	out=$("$BENCH" -n "$n" -d "$d")
	echo "$out"
	t_tessera=$(sed -n 's/.* build=\([0-9.]*\) s .*/\1/p' <<<"$out")
	m_tessera=$(sed -n 's/.* peak_rss=\([0-9]*\) MB.*/\1/p' <<<"$out")
	openssl crl -in "$d/tessera.crl" -inform DER -CAfile "$d/ca.pem" \
		-noout 2>&1 | sed 's/^/  tessera CRL: /'
	c_tessera=$(entries "$d/tessera.crl" DER)

	cat >"$d/openssl.cnf" <<EOF
[ ca ]
default_ca = bench
[ bench ]
dir = $d
database = \$dir/index.txt
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
default_crl_days = 7
unique_subject = no
policy = any
crl_extensions = crl_ext
[ any ]
commonName = supplied
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
	echo 01 >"$d/crlnumber"
	echo "unique_subject = no" >"$d/index.txt.attr"
	set +e
	/usr/bin/time -f "%e %M" -o "$d/time" timeout 120 \
		openssl ca -config "$d/openssl.cnf" -gencrl -batch \
		-out "$d/openssl.crl" >"$d/openssl.log" 2>&1
	rc=$?
	set -e
	if [ $rc = 0 ]; then
		read -r t_openssl kb <"$d/time"
		m_openssl=$((kb / 1024))
		openssl crl -in "$d/openssl.crl" -CAfile "$d/ca.pem" -noout \
			2>&1 | sed 's/^/  openssl ca CRL: /'
		c_openssl=$(entries "$d/openssl.crl" PEM)
		ratio=$(awk -v a="$t_openssl" -v b="$t_tessera" \
			'BEGIN { printf "%.1f", a / b }')
	elif [ $rc = 124 ] || grep -q "Command terminated by signal" \
		"$d/time"; then
		t_openssl=">120 (timed out)"
		m_openssl=-
		c_openssl=-
		ratio=">$(awk -v b="$t_tessera" 'BEGIN { printf "%.0f", 120 / b }')"
	else
		echo "openssl ca -gencrl failed:" >&2
		cat "$d/openssl.log" >&2
		exit 1
	fi
	echo "openssl ca -gencrl n=$n: $t_openssl s, peak_rss=$m_openssl MB," \
		"$c_openssl entries (tessera: $c_tessera)"
	rows+=("$(printf '%-9s %-12s %-18s %-8s %-12s %-12s' "$n" \
		"$t_tessera" "$t_openssl" "$ratio" "$m_tessera" "$m_openssl")")
	rm -f "$d/index.txt" "$d/openssl.crl" "$d/tessera.crl"
done

echo
printf '%-9s %-12s %-18s %-8s %-12s %-12s\n' entries tessera_s \
	openssl_ca_s ratio tessera_MB openssl_MB
for r in "${rows[@]}"; do
	echo "$r"
done
echo "(ratio = openssl ca -gencrl time / tessera build time; MB = peak RSS" \
	"of the process)"
