#!/usr/bin/env bash
# Observability: /metrics on the publication listener counts what was done
# across every worker (a few enrollments, a refusal, a token, OCSP answers
# for a good and a revoked certificate, a revocation), promtool accepts it,
# a real Prometheus started here scrapes it and reports the target up; the
# allow-list refuses an address it does not list (403) and serves one it
# does; the JSON log parses line by line; the access log has one line per
# request; /healthz and tessera status say the version, the CA
# certificates' expiry and the CRLs' age.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)

read -r P1 P2 P3 <<<"$(pick_ports 3)"
URL=https://localhost:$P1
PUB=http://127.0.0.1:$P2
CURL=(curl -sS --max-time 20 --cacert "$D/ca/chain.pem")
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")
JS=(-H 'Content-Type: application/json')

# wait_until SECONDS command...: poll (every 0.2 s) until the command works.
wait_until() {
	local n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

# scrape NAME [curl args]: GET /metrics into $T/NAME.prom (headers in
# $T/NAME.hdr); prints the HTTP code.
scrape() {
	local name=$1
	shift
	curl -sS --max-time 10 -D "$T/$name.hdr" -o "$T/$name.prom" \
		-w '%{http_code}' "$@" "$PUB/metrics"
}
# mval FILE SERIES: the value of one series as exposed (0 when absent).
mval() {
	python3 - "$@" <<'EOF'
import sys
want = sys.argv[2]
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    series, value = line.rstrip("\n").rsplit(" ", 1)
    if series == want:
        print(value)
        sys.exit(0)
print(0)
EOF
}
# moved SERIES WANT: the series moved by exactly WANT between before.prom
# and after.prom.
moved() {
	local a b
	a=$(mval "$T/before.prom" "$1")
	b=$(mval "$T/after.prom" "$1")
	if [ "$((b - a))" = "$2" ]; then pass; else
		fail "$1 moved by $((b - a)), not $2 ($a -> $b)"; fi
}
# enroll NAME ID: $T/NAME.pem and $T/NAME.key for device ID over EST.
enroll() {
	local s
	csr "$1" "/CN=$2" -addext "subjectAltName=URI:urn:dev:$2"
	s=$(tessera secret --data "$D" --device "$2" 2>/dev/null | tail -1)
	openssl req -in "$T/$1.csr" -outform DER 2>/dev/null | base64 -w0 |
		"${CURL[@]}" --fail-with-body -u "$2:$s" \
			-H 'Content-Type: application/pkcs10' --data-binary @- \
			"$URL/.well-known/est/simpleenroll" | base64 -d |
		openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -out "$T/$1.pem" 2>/dev/null
}
# ocsp NAME CERT: ask the responder about CERT; the answer in $T/NAME.ocsp.
ocsp() {
	openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$2" -url "$PUB/ocsp" \
		-CAfile "$D/ca/chain.pem" -timeout 10 >"$T/$1.ocsp" 2>&1
}

check "init" tessera init --data "$D" --name "Metrics Test" --publish-url "$PUB"
if ! start_server "$D" "$P1" "$P2" 2; then
	fail "tessera serve did not start"
	finish
	exit
fi
pass

# --- the counters move by exactly what was done --------------------------
code=$(scrape before)
check "GET /metrics from loopback answers 200 ($code)" test "$code" = 200
check "its content type is the exposition format's" grep -qi \
	'^content-type: text/plain; version=0.0.4; charset=utf-8' "$T/before.hdr"
for i in 1 2 3; do
	check "enroll dev$i" enroll "dev$i" "metrics-dev$i"
done
# A refusal: a secret that is not the device's (401, audited).
csr bad /CN=metrics-bad -addext "subjectAltName=URI:urn:dev:metrics-bad"
code=$(openssl req -in "$T/bad.csr" -outform DER 2>/dev/null | base64 -w0 |
	"${CURL[@]}" -o /dev/null -w '%{http_code}' -u "metrics-bad:not-it" \
		-H 'Content-Type: application/pkcs10' --data-binary @- \
		"$URL/.well-known/est/simpleenroll")
check "a wrong secret is refused 401 ($code)" test "$code" = 401
code=$("${CURL[@]}" -o "$T/tok.json" -w '%{http_code}' --cert "$T/dev1.pem" \
	--key "$T/dev1.key" -d grant_type=client_credentials "$URL/token")
check "a token for dev1 ($code)" test "$code" = 200
S2=$(openssl x509 -in "$T/dev2.pem" -noout -serial | cut -d= -f2)
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "${ADM[@]}" "${JS[@]}" \
	-d '{"reason":"keyCompromise"}' "$URL/api/v1/certificates/$S2/revoke")
check "the admin revokes dev2 ($code)" test "$code" = 200
check "OCSP for dev1" ocsp o1 "$T/dev1.pem"
check "  says good" grep -q ": good" "$T/o1.ocsp"
check "OCSP for dev2" ocsp o2 "$T/dev2.pem"
check "  says revoked" grep -q ": revoked" "$T/o2.ocsp"
code=$(scrape after)
check "GET /metrics again ($code)" test "$code" = 200
moved 'tessera_enrollments_total{profile="device",result="issued"}' 3
moved 'tessera_enrollments_total{profile="device",result="unauthenticated"}' 1
moved 'tessera_http_requests_total{endpoint="est_simpleenroll",code="200"}' 3
moved 'tessera_http_requests_total{endpoint="est_simpleenroll",code="401"}' 1
moved 'tessera_http_requests_total{endpoint="token",code="200"}' 1
moved 'tessera_http_requests_total{endpoint="api",code="200"}' 1
moved 'tessera_http_requests_total{endpoint="ocsp",code="200"}' 2
moved 'tessera_http_requests_total{endpoint="metrics",code="200"}' 1
moved 'tessera_tokens_minted_total' 1
moved 'tessera_ocsp_responses_total{status="good"}' 1
moved 'tessera_ocsp_responses_total{status="revoked"}' 1
moved 'tessera_ocsp_responses_total{status="unknown"}' 0
moved 'tessera_hsm_sign_duration_seconds_count{purpose="certificate"}' 3
moved 'tessera_hsm_sign_duration_seconds_count{purpose="token"}' 1
moved 'tessera_rate_limited_total{limit="enroll"}' 0
moved 'tessera_worker_restarts_total' 0
# Every write committed: issuances, a consumed secret, a token, a revocation.
c0=$(mval "$T/before.prom" tessera_store_commit_duration_seconds_count)
c1=$(mval "$T/after.prom" tessera_store_commit_duration_seconds_count)
check "store commits were timed ($c0 -> $c1)" test "$c1" -ge "$((c0 + 5))"
check "group sizes counted as often" test \
	"$(mval "$T/after.prom" tessera_store_commit_group_size_count)" = "$c1"
check "the token is up" test \
	"$(mval "$T/after.prom" tessera_hsm_up)" = 1
check "the build info names the version" grep -q \
	'^tessera_build_info{version="[0-9.]*"} 1$' "$T/after.prom"
check "the CRL's age is there" grep -q \
	'^tessera_crl_age_seconds{crl="issuing.crl"} [0-9]' "$T/after.prom"
check "the root CRL's size is there" grep -q \
	'^tessera_crl_size_bytes{crl="root.crl"} [1-9]' "$T/after.prom"
check "nothing in flight but the scrape" test \
	"$(mval "$T/after.prom" tessera_http_requests_in_flight)" = 1
# The revocation reaches the CRL within seconds (scheduled rebuild).
crl_lists_one() {
	scrape crl >/dev/null
	[ "$(mval "$T/crl.prom" 'tessera_crl_entries{crl="issuing.crl"}')" = 1 ]
}
check "the CRL lists the revoked certificate (entries 1)" \
	wait_until 20 crl_lists_one

# Whichever worker answers reports the whole service: scrape until both
# have answered (Tessera-Worker), the counters of the work above equal.
declare -A seen=()
for i in $(seq 1 40); do
	scrape "w$i" >/dev/null
	w=$(tr -d '\r' <"$T/w$i.hdr" | sed -n 's/^tessera-worker: //Ip')
	[ -n "$w" ] && [ -z "${seen[$w]:-}" ] && seen[$w]=$i
	[ "${#seen[@]}" -ge 2 ] && break
done
check "both workers answered /metrics (${!seen[*]})" test "${#seen[@]}" -ge 2
for w in "${!seen[@]}"; do
	f="$T/w${seen[$w]}.prom"
	for s in 'tessera_enrollments_total{profile="device",result="issued"}' \
		tessera_tokens_minted_total \
		'tessera_ocsp_responses_total{status="revoked"}'; do
		check "worker $w reports $s as the service's" test \
			"$(mval "$f" "$s")" = "$(mval "$T/after.prom" "$s")"
	done
done

# --- promtool and a real Prometheus ----------------------------------------
check "promtool check metrics accepts the exposition" \
	"$PROMTOOL" check metrics <"$T/after.prom"
mkdir -p "$T/prom"
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tessera
    static_configs:
      - targets: ['127.0.0.1:$P2']
EOF
check "promtool check config" "$PROMTOOL" check config "$T/prometheus.yml"
"$PROMETHEUS" --config.file="$T/prometheus.yml" \
	--storage.tsdb.path="$T/prom" --web.listen-address="127.0.0.1:$P3" \
	>"$T/prometheus.log" 2>&1 &
PROM=$!
cleanup_hooks+=("kill $PROM 2>/dev/null; wait $PROM 2>/dev/null")
target_up() {
	curl -sf --max-time 2 "http://127.0.0.1:$P3/api/v1/targets" |
		python3 -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
sys.exit(0 if t and t[0]["health"] == "up" else 1)'
}
query_up() {
	curl -sf --max-time 2 "http://127.0.0.1:$P3/api/v1/query?query=up" |
		python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if r and r[0]["value"][1] == "1" else 1)'
}
check "Prometheus reports the tessera target up" wait_until 30 target_up
check "and up == 1 in a query" wait_until 10 query_up
kill "$PROM" 2>/dev/null
wait "$PROM" 2>/dev/null

# --- the allow-list ----------------------------------------------------------
code=$("${CURL[@]}" -o "$T/tls.out" -w '%{http_code}' "$URL/metrics")
check "/metrics is not on the TLS listener ($code)" test "$code" = 404
python3 - "$D/policy.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["metrics"] = {"allow": ["127.0.0.2"]}
json.dump(p, open(sys.argv[1], "w"), indent=2)
EOF
reloaded() { grep -q "reload 1 complete" "$T/serve.err"; }
kill -HUP "$SERVER_PID"
check "SIGHUP reloads the policy" wait_until 60 reloaded
code=$(scrape refused)
check "127.0.0.1, not in metrics.allow, gets 403 ($code)" test "$code" = 403
check "  saying why" grep -q "metrics.allow does not list it" "$T/refused.prom"
check "  and no counter" test -z "$(grep '^tessera_' "$T/refused.prom")"
code=$(scrape allowed --interface 127.0.0.2)
check "127.0.0.2, listed, gets 200 ($code)" test "$code" = 200
moved2() { # the refusal was counted as one
	[ "$(mval "$T/allowed.prom" \
		'tessera_http_requests_total{endpoint="metrics",code="403"}')" = 1 ]
}
check "the 403 is counted" moved2

finish
