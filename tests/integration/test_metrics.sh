#!/usr/bin/env bash
# Observability: /metrics on the publication listener counts what was done
# across every worker (a few enrollments, a refusal, a token, OCSP answers
# for a good and a revoked certificate, a revocation, 429s from a rate
# limit, a killed worker restarted), promtool accepts it,
# a real Prometheus started here scrapes it and reports the target up; the
# allow-list refuses an address it does not list (403) and serves one it
# does; the JSON log parses line by line and keeps what a client sent
# exactly; the access log has one line per request (with its principal,
# never a query) and as many as the counters; /healthz and tessera status
# say the version, the CA certificates' expiry and the CRLs' age.
. "$(dirname "$0")/lib.sh"
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
# Debian's python3 (a version manager's shim takes a second to start).
python3() { if [ -x /usr/bin/python3 ]; then /usr/bin/python3 "$@"; else command python3 "$@"; fi; }

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
	awk -v want="$2" 'substr($0, 1, 1) != "#" {
		i = length($0)
		while (i > 0 && substr($0, i, 1) != " ") i--
		if (substr($0, 1, i - 1) == want) { print substr($0, i + 1); found = 1; exit }
	} END { if (!found) print 0 }' "$1"
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
# JSON logs and an access log for a log group, from tessera.json; debug,
# so that what a client sends reaches a log line (escaped).
python3 - "$D/tessera.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["log"] = {"format": "json", "access": "access.log", "access_mode": "0640"}
json.dump(c, open(sys.argv[1], "w"), indent=2)
EOF
# A tight OCSP limit, so that a burst below meets it (429).
python3 - "$D/policy.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["rate_limits"] = {"ocsp": {"per_second": 1, "burst": 3}}
json.dump(p, open(sys.argv[1], "w"), indent=2)
EOF
export TESSERA_LOG=debug
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
moved 'tessera_hsm_sign_duration_seconds_count{purpose="device_cert"}' 3
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
# The revocation's OCSP answer and the CRLs were signed (and timed).
check "OCSP answers signed since the first scrape" test \
	"$(mval "$T/crl.prom" 'tessera_hsm_sign_duration_seconds_count{purpose="ocsp"}')" \
	-gt "$(mval "$T/before.prom" 'tessera_hsm_sign_duration_seconds_count{purpose="ocsp"}')"
check "CRLs signed since the first scrape" test \
	"$(mval "$T/crl.prom" 'tessera_hsm_sign_duration_seconds_count{purpose="crl"}')" \
	-gt "$(mval "$T/before.prom" 'tessera_hsm_sign_duration_seconds_count{purpose="crl"}')"

# Whichever worker answers reports the whole service: scrape until both
# have answered (Tessera-Worker), the counters of the work above equal.
# The workers share one listening socket and the kernel hands a new
# connection to whichever is waiting, so on a loaded machine one worker
# may take every connection for a while: up to 30 s, with pauses.
declare -A seen=()
i=0
end=$((SECONDS + 30))
while [ "${#seen[@]}" -lt 2 ] && [ "$SECONDS" -lt "$end" ]; do
	i=$((i + 1))
	scrape "w$i" >/dev/null
	w=$(tr -d '\r' <"$T/w$i.hdr" | sed -n 's/^tessera-worker: //Ip')
	[ -n "$w" ] && [ -z "${seen[$w]:-}" ] && seen[$w]=$i
	[ "${#seen[@]}" -ge 2 ] || [ "$i" -lt 20 ] || sleep 0.1
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

# --- rate-limit refusals and worker restarts ------------------------------
scrape r0 >/dev/null
n429=0
for i in 1 2 3 4 5 6 7 8; do
	code=$(curl -sS -o /dev/null -w '%{http_code}' "$PUB/ocsp/AAAA")
	[ "$code" = 429 ] && n429=$((n429 + 1))
done
check "a burst of OCSP requests meets the limit ($n429 answered 429)" \
	test "$n429" -ge 1
# A worker dies; the supervisor starts another and counts it.
# (Workers are "tessera" in comm; the signer is "tessera-signer".)
victim=$(pgrep -x tessera -P "$SERVER_PID" | head -1)
kill -KILL "$victim"
replaced() {
	[ "$(pgrep -x tessera -P "$SERVER_PID" | wc -l)" = 2 ] &&
		! pgrep -x tessera -P "$SERVER_PID" | grep -qx "$victim" &&
		curl -sf --max-time 2 -o /dev/null "$PUB/healthz"
}
check "the killed worker is replaced" wait_until 30 replaced
scrape r1 >/dev/null
mv "$T/before.prom" "$T/before0.prom"
mv "$T/after.prom" "$T/after0.prom"
cp "$T/r0.prom" "$T/before.prom"
cp "$T/r1.prom" "$T/after.prom"
moved 'tessera_rate_limited_total{limit="ocsp"}' "$n429"
moved 'tessera_http_requests_total{endpoint="ocsp",code="429"}' "$n429"
moved 'tessera_worker_restarts_total' 1
moved 'tessera_rate_limited_total{limit="enroll"}' 0
# The counts survive the worker that made some of them.
moved 'tessera_enrollments_total{profile="device",result="issued"}' 0
check "in flight: only the scrape, the dead worker's count gone" test \
	"$(mval "$T/r1.prom" tessera_http_requests_in_flight)" = 1
cp "$T/after0.prom" "$T/after.prom"

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

# --- logs ----------------------------------------------------------------------
# A path with a quote, a backslash, a newline, a tab and a euro sign: the
# debug line naming it carries it exactly, in one JSON line.
code=$(curl -sS -o /dev/null -w '%{http_code}' \
	"$PUB/crl/q%22b%5Cn%0At%09%E2%82%AC.crl")
check "a CRL that does not exist ($code)" test "$code" = 404
check "the access log is 0640" mode_is "$D/access.log" 640
code=$(curl -sS -o /dev/null -w '%{http_code}' "$PUB/healthz?secret=hunter2")
check "/healthz with a query ($code)" test "$code" = 200
json_lines() { # every line of $1 is one JSON object with the keys $2...
	python3 - "$@" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert lines, "no lines"
for i, line in enumerate(lines):
    o = json.loads(line)
    for k in sys.argv[2:]:
        assert k in o, "line %d lacks %s: %s" % (i + 1, k, line)
EOF
}
check "every log line is a JSON object (time, level, worker, message)" \
	json_lines "$T/serve.err" time level worker message
has_message() { # a log line whose message holds $1 exactly
	python3 - "$T/serve.err" "$1" <<'EOF'
import json, sys
want = sys.argv[2]
for line in open(sys.argv[1], encoding="utf-8"):
    if want in json.loads(line)["message"]:
        sys.exit(0)
sys.exit(1)
EOF
}
check "a message keeps what the client sent, exactly" \
	has_message 'q"b\n'$'\n''t'$'\t''€.crl'
check "the workers log under their own pid" python3 -c '
import json, sys
pids = {json.loads(l)["worker"] for l in open(sys.argv[1])}
sys.exit(0 if len(pids) >= 3 else 1)' "$T/serve.err"
check "every access line is a JSON object" json_lines "$D/access.log" \
	time remote method path status bytes duration principal
access_has() { # an access line with these key=value pairs
	python3 - "$D/access.log" "$@" <<'EOF'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
for line in open(sys.argv[1]):
    o = json.loads(line)
    if all(str(o.get(k)) == v for k, v in want.items()):
        sys.exit(0)
sys.exit(1)
EOF
}
check "access: the enrollment, with its principal" access_has method=POST \
	path=/.well-known/est/simpleenroll status=200 \
	principal=secret:metrics-dev1 remote=127.0.0.1
check "access: the refused enrollment" access_has status=401 \
	principal=secret:metrics-bad
check "access: the token, by certificate" access_has path=/token \
	status=200 principal=cert:metrics-dev1
check "access: the revocation" access_has method=POST status=200 \
	path="/api/v1/certificates/$S2/revoke"
check "access: the 403 on /metrics, no principal" access_has \
	path=/metrics status=403 principal=None
check "access: /healthz without its query" access_has path=/healthz \
	status=200
check "no query reaches the access log" test -z \
	"$(grep hunter2 "$D/access.log")"
# Every answer of a handler is one access line and one count.
code=$(scrape last --interface 127.0.0.2)
sum=$(python3 -c '
import sys
n = 0
for l in open(sys.argv[1]):
    if l.startswith("tessera_http_requests_total{"):
        n += int(l.split()[-1])
print(n)' "$T/last.prom")
lines=$(wc -l <"$D/access.log")
check "access lines ($lines) = requests counted ($sum) + this scrape" \
	test "$lines" = "$((sum + 1))"

# --- /healthz and tessera status -------------------------------------------
curl -sS "$PUB/healthz" >"$T/health.json"
check "/healthz says the version, the CA expiry and each CRL's age" \
	python3 - "$T/health.json" <<'EOF'
import json, sys, time
h = json.load(open(sys.argv[1]))
assert h["status"] == "ok" and h["hsm"] == "ok", h
assert h["version"].count(".") == 2, h
assert [c["certificate"] for c in h["ca"]] == ["root", "issuing"], h
assert all(c["not_after"] > time.time() + 86400 * 365 for c in h["ca"]), h
crls = {c["name"]: c for c in h["crls"]}
assert set(crls) == {"issuing.crl", "root.crl"}, h
assert 0 <= crls["issuing.crl"]["age_seconds"] < 3600, h
assert crls["issuing.crl"]["entries"] == 1, h
assert h["expiring"] == [], h
EOF
tessera status --data "$D" --server "$PUB" >"$T/status.out" 2>&1
rc=$?
check "tessera status exits 0 while serving ($rc)" test $rc = 0
check "  names the serve pid" grep -q "serve  *running, pid $SERVER_PID$" \
	"$T/status.out"
check "  says what /healthz said" grep -q "healthz: ok, version [0-9.]*, token ok" \
	"$T/status.out"
check "  the issuing CA's expiry" grep -q "^  issuing .*expires 20" "$T/status.out"
check "  the CRL with its entry" grep -q \
	"^  issuing.crl  age .*, 1 entry, [0-9]* bytes$" "$T/status.out"
check "  nothing expiring" grep -q "^  none$" "$T/status.out"
stop_server
tessera status --data "$D" --server "$PUB" >"$T/status2.out" 2>&1
rc=$?
check "tessera status exits 1 once serve stopped ($rc)" test $rc = 1
check "  saying it is not running" grep -q "serve  *not running" "$T/status2.out"
check "  and that /healthz does not answer" grep -q "healthz: no answer" \
	"$T/status2.out"
refuse "tessera status on a directory that is not tessera's" \
	"not a tessera data directory" tessera status --data "$T"

finish
