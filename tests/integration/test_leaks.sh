#!/usr/bin/env bash
# No secret leaks, looked for in every form it could take. The secrets: the
# user and SO PINs, one-time enrollment secrets (CLI and API; used, unused,
# reused) and their HTTP Basic credentials, a wrong secret, a wrong PIN,
# the private keys serverkeygen returned, the admin and TLS keys (also the
# TLS key before and after `tessera renew`), and a device token when
# POST /token exists. The places: every file of the data directory (the
# database and its WAL as bytes), the server's and the CLI's output, and
# the audit as text. A secret may be only in its own file (a PIN in its
# .pin, a key in its .key). The forms: the text itself, with whitespace
# removed (a key's base64 wrapped any way), and for keys the DER and the
# private scalar as bytes and as hex, and the scalar in base64 and
# base64url. Everything runs with umask 000, so that a file is 0600 only
# because tessera made it so: keys, PINs, tessera.json, the database (and
# -wal, -shm) and every SoftHSM token file.
. "$(dirname "$0")/lib.sh"
umask 000
D=$T/var
tessera() { "$TESSERA_BIN" "$@"; }

ports=$(pick_ports 4) || {
	fail "no free ports"
	finish
	exit
}
read -r P1 P2 P3 P4 <<<"$ports"
EST=https://localhost:$P1/.well-known/est
API=https://localhost:$P1/api/v1
CURL=(curl -sS --max-time 60 --cacert "$D/ca/chain.pem")
CT=(-H 'Content-Type: application/pkcs10')
ADM=(--cert "$D/admin/admin.pem" --key "$D/admin/admin.key")

# --- the secrets ------------------------------------------------------------
# add_secret NAME KIND VALUE [HOME [IN_HOME]]: KIND text (looked for as it
# is and in whitespace-stripped copies, any case) or hex (bytes: looked
# for in hex dumps, and as hex text); HOME, relative to the data
# directory, is the one file where it may be; IN_HOME 1 (the default):
# it must be found there too, so that the search is known to work.
S_NAME=()
S_KIND=()
S_VALUE=()
S_HOME=()
S_IN_HOME=()
add_secret() {
	if [ -z "$3" ]; then
		fail "secret '$1' is empty"
		return
	fi
	S_NAME+=("$1")
	S_KIND+=("$2")
	S_VALUE+=("$3")
	S_HOME+=("${4:+$D/$4}")
	S_IN_HOME+=("${5:-1}")
}
# add_key NAME KEYFILE [HOME]: the key's DER (PKCS#8 and the traditional
# SEC1 or PKCS#1), its private scalar (hex), the base64 of the DER's bytes
# that hold only the scalar (as in any PEM of the key, once unwrapped), the
# scalar in base64url (a JWK's "d").
add_key() {
	local name=$1 key=$2 home=${3:-} priv forms
	openssl pkcs8 -topk8 -nocrypt -in "$key" -outform DER -out "$T/key.p8" 2>/dev/null
	openssl pkey -traditional -in "$key" -outform DER -out "$T/key.trad" 2>/dev/null
	priv=$(privhex "$key")
	if [ ${#priv} -lt 64 ]; then
		fail "$name: no private scalar found"
		return
	fi
	forms=$(python3 -c '
import base64, sys
priv = bytes.fromhex(sys.argv[3])
for f in sys.argv[1:3]:
    der = open(f, "rb").read()
    o = der.find(priv)
    if o < 0:
        sys.exit(1)
    s, e = -(-o // 3) * 3, (o + len(priv)) // 3 * 3
    print(der.hex(), base64.b64encode(der[s:e]).decode())
print(base64.urlsafe_b64encode(priv).decode().rstrip("="))' \
		"$T/key.p8" "$T/key.trad" "$priv") || {
		fail "$name: the scalar is not in the key's DER"
		return
	}
	# A PEM file holds the key as PKCS#8 in base64 only.
	read -r p8 p8b64 <<<"$(sed -n 1p <<<"$forms")"
	read -r trad tradb64 <<<"$(sed -n 2p <<<"$forms")"
	add_secret "$name (PKCS#8 DER)" hex "$p8" "$home" 0
	add_secret "$name (traditional DER)" hex "$trad" "$home" 0
	add_secret "$name (scalar)" hex "$priv" "$home" 0
	add_secret "$name (scalar in PKCS#8 base64)" text "$p8b64" "$home"
	add_secret "$name (scalar in traditional base64)" text "$tradb64" "$home" 0
	add_secret "$name (scalar in base64url)" text "$(sed -n 3p <<<"$forms")" "$home" 0
}
# basic NAME ID SECRET: the secret, and the Basic credentials that carry it.
basic() {
	add_secret "$1" text "$3"
	add_secret "$1 (Basic credentials)" text "$(printf '%s:%s' "$2" "$3" | base64 -w0)"
}

check "init" tessera init --data "$D" --name "Leak Test"
add_secret "user PIN" text "$(cat "$D/hsm/user.pin")" hsm/user.pin
add_secret "SO PIN" text "$(cat "$D/hsm/so.pin")" hsm/so.pin
add_key "admin key" "$D/admin/admin.key" admin/admin.key
cp "$D/tls/server.key" "$T/tls-old.key"
add_key "first TLS key" "$T/tls-old.key"

# The server takes the PIN from TESSERA_HSM_PIN here, the CLI from the file.
if ! TESSERA_HSM_PIN=$(cat "$D/hsm/user.pin") start_server "$D" "$P1" "$P2" 2; then
	fail "server did not come up"
	sed 's/^/    /' "$T/serve.err" >&2
	finish
	exit
fi
pass

mint() { tessera secret --data "$D" --device "$1" 2>>"$T/cli.err" | tail -1; }
mint_api() {
	"${CURL[@]}" "${ADM[@]}" -H 'Content-Type: application/json' \
		-d "{\"device\": \"$1\"}" "$API/enrollment-secrets" 2>>"$T/cli.err" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])'
}
# enroll NAME ID SECRET [OP]: a CSR for ID, POST to OP (simpleenroll);
# prints the status code, the answer in $T/NAME.out, headers $T/NAME.hdr.
enroll() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:"${5:-P-256}" -nodes \
		-keyout "$T/$1.key" -subj "/CN=$2" -outform DER 2>/dev/null |
		base64 >"$T/$1.b64"
	"${CURL[@]}" -o "$T/$1.out" -D "$T/$1.hdr" -w '%{http_code}' "${CT[@]}" \
		-u "$2:$3" --data-binary @"$T/$1.b64" "$EST/${4:-simpleenroll}"
}

# Secrets from the CLI and the API: used, reused, left unused.
S1=$(mint leak-1)
basic "CLI secret, used" leak-1 "$S1"
code=$(enroll e1 leak-1 "$S1")
[ "$code" = 200 ] && pass || fail "enroll with the CLI secret: HTTP $code"
code=$(enroll e1b leak-1 "$S1")
[ "$code" = 401 ] && pass || fail "the CLI secret used twice: HTTP $code, want 401"
basic "CLI secret, unused" leak-2 "$(mint leak-2)"
S3=$(mint_api leak-3)
basic "API secret, unused" leak-3 "$S3"
# A wrong secret shaped like a real one, for a device with a secret, and
# for one without.
WRONG=$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')
basic "wrong secret" leak-3 "$WRONG"
code=$(enroll e3 leak-3 "$WRONG")
[ "$code" = 401 ] && pass || fail "a wrong secret: HTTP $code, want 401"
WRONG2=$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')
basic "wrong secret, unknown device" leak-none "$WRONG2"
code=$(enroll e4 leak-none "$WRONG2")
[ "$code" = 401 ] && pass || fail "a secret for an unknown device: HTTP $code, want 401"

# serverkeygen: P-256 and P-384 keys made by tessera, returned once.
i=0
for curve in P-256 P-384; do
	i=$((i + 1))
	s=$(mint_api "leak-kg$i")
	basic "serverkeygen secret $i" "leak-kg$i" "$s"
	code=$(enroll "kg$i" "leak-kg$i" "$s" serverkeygen "$curve")
	[ "$code" = 200 ] && pass || {
		fail "serverkeygen ($curve): HTTP $code"
		continue
	}
	boundary=$(grep -i '^content-type: multipart/mixed' "$T/kg$i.hdr" |
		sed -n 's/.*boundary="\{0,1\}\([^";[:space:]]*\).*/\1/p')
	awk -v b="--$boundary" -v out="$T/kg$i.part" '
		{ sub(/\r$/, "") }
		$0 == b || $0 == b "--" { n++; inhdr = 1; next }
		n && inhdr && $0 == "" { inhdr = 0; next }
		n && inhdr { print > (out n ".hdr"); next }
		n { print > (out n ".b64") }' "$T/kg$i.out"
	if grep -qix 'content-type: application/pkcs8' "$T/kg$i.part1.hdr" 2>/dev/null &&
		base64 -d "$T/kg$i.part1.b64" >"$T/kg$i.der" 2>/dev/null &&
		openssl pkey -inform DER -in "$T/kg$i.der" -out "$T/kg$i.pem" 2>/dev/null; then
		pass
		add_key "serverkeygen $curve key" "$T/kg$i.pem"
		add_secret "serverkeygen $curve key (as sent)" text \
			"$(tr -d ' \r\n' <"$T/kg$i.part1.b64")"
	else
		fail "serverkeygen ($curve): no PKCS#8 key in the answer"
	fi
done

# A device token, when tessera has the endpoint.
base64 -d "$T/e1.out" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	openssl x509 -out "$T/e1.pem" 2>/dev/null
code=$("${CURL[@]}" -o "$T/token.out" -w '%{http_code}' --cert "$T/e1.pem" \
	--key "$T/e1.key" -d grant_type=client_credentials "https://localhost:$P1/token")
if [ "$code" = 404 ]; then
	echo "leaks: POST /token answers 404; no token looked for"
else
	tok=$(grep -oE '[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{40,}' \
		"$T/token.out" | head -1)
	[ "$code" = 200 ] && [ -n "$tok" ] && pass ||
		fail "POST /token: HTTP $code, no token in $(head -c 200 "$T/token.out")"
	if [ -n "$tok" ]; then
		add_secret "device token" text "$tok"
		add_secret "device token signature" text "${tok##*.}"
	fi
fi

# A new TLS key through `tessera renew`, loaded with SIGHUP.
check "tessera renew tls" tessera renew --data "$D" tls
add_key "renewed TLS key" "$D/tls/server.key" tls/server.key
cmp -s "$T/tls-old.key" "$D/tls/server.key" && fail "renew left the TLS key as it was" ||
	pass
kill -HUP "$SERVER_PID"
sleep 2
check "healthz after SIGHUP" wait_healthz "$P2" 10
# The WAL and its index exist while the server runs (a clean close removes
# them).
n=0
for f in "$D"/tessera.db-wal "$D"/tessera.db-shm; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	mode_is "$f" 600 && pass || fail "${f#"$D/"} is mode $(stat -c %a "$f") while serving, want 600"
done
[ "$n" = 2 ] && pass || fail "no tessera.db-wal and -shm while serving"
stop_server

# A wrong PIN, from the environment, for the CLI and for serve: refused,
# and not repeated in what tessera says.
WRONGPIN=$(openssl rand -hex 16)
add_secret "wrong PIN" text "$WRONGPIN"
TESSERA_HSM_PIN=$WRONGPIN tessera secret --data "$D" --device leak-9 \
	>"$T/wrongpin-secret.out" 2>&1 && fail "tessera secret with a wrong PIN succeeded" ||
	pass
TESSERA_HSM_PIN=$WRONGPIN timeout 60 "$TESSERA_BIN" serve --data "$D" \
	--listen "127.0.0.1:$P3" --publish "127.0.0.1:$P4" --workers 1 \
	>"$T/wrongpin-serve.out" 2>&1 && fail "tessera serve with a wrong PIN succeeded" ||
	pass
grep -qi 'pin' "$T/wrongpin-secret.out" && grep -qi 'pin' "$T/wrongpin-serve.out" &&
	pass || {
	fail "a wrong PIN is refused without saying that the PIN was wrong:"
	cat "$T/wrongpin-secret.out" "$T/wrongpin-serve.out" | head -6 | sed 's/^/    /' >&2
}
# The token still takes the right PIN (no lock-out), and the CLI's secret.
S9=$(mint leak-9)
basic "CLI secret after the wrong PIN" leak-9 "$S9"

# --- the places ---------------------------------------------------------------
sqlite3 "$D/tessera.db" 'SELECT * FROM audit' >"$T/audit.txt"
[ -s "$T/audit.txt" ] && pass || fail "the audit is empty"
places=("$T/serve.err" "$T/serve.out" "$T/cli.err" "$T/audit.txt"
	"$T/wrongpin-secret.out" "$T/wrongpin-serve.out")
while IFS= read -r -d '' f; do places+=("$f"); done < <(find "$D" -type f -print0)
mkdir -p "$T/forms"
stripped=()
hexed=()
for i in "${!places[@]}"; do
	tr -d ' \t\r\n' <"${places[$i]}" >"$T/forms/$i.strip"
	od -An -v -tx1 "${places[$i]}" | tr -d ' \n' >"$T/forms/$i.hex"
	stripped+=("$T/forms/$i.strip")
	hexed+=("$T/forms/$i.hex")
done
# place_of FILE: the place a form file stands for.
place_of() {
	case $1 in
	"$T/forms/"*) echo "${places[$(basename "${1%.*}")]}" ;;
	*) echo "$1" ;;
	esac
}

for i in "${!S_NAME[@]}"; do
	v=${S_VALUE[$i]}
	if [ "${S_KIND[$i]}" = hex ]; then
		v=${v,,}
		hits=$( (grep -laiF -- "$v" "${places[@]}"
			grep -lF -- "$v" "${hexed[@]}") 2>/dev/null)
	else
		hits=$(grep -laiF -- "$v" "${places[@]}" "${stripped[@]}" 2>/dev/null)
	fi
	bad=
	while IFS= read -r h; do
		[ -n "$h" ] || continue
		h=$(place_of "$h")
		[ "$h" = "${S_HOME[$i]}" ] || bad="$bad ${h#"$T/"}"
	done <<<"$hits"
	[ -z "$bad" ] && pass || fail "${S_NAME[$i]} is in:$(tr ' ' '\n' <<<"$bad" | sort -u | tr '\n' ' ')"
	# Its home holds it (or the search would find nothing anywhere).
	if [ -n "${S_HOME[$i]}" ] && [ "${S_IN_HOME[$i]}" = 1 ]; then
		grep -q "^${S_HOME[$i]}\$" <<<"$(while IFS= read -r h; do
			[ -n "$h" ] && place_of "$h"
		done <<<"$hits")" && pass ||
			fail "${S_NAME[$i]}: not found in its own file ${S_HOME[$i]#"$T/"}"
	fi
done
n=${#S_NAME[@]}
[ "$n" -ge 40 ] && pass || fail "only $n secrets were looked for"
echo "leaks: $n secret forms looked for in ${#places[@]} places"

# --- modes --------------------------------------------------------------------
for f in tls/server.key admin/admin.key hsm/user.pin hsm/so.pin \
	hsm/softhsm2.conf tessera.json tessera.db; do
	if [ ! -e "$D/$f" ]; then
		fail "$f does not exist"
	elif mode_is "$D/$f" 600; then
		pass
	else
		fail "$f is mode $(stat -c %a "$D/$f"), want 600"
	fi
done
for f in "$D"/tessera.db-wal "$D"/tessera.db-shm "$D"/tessera.db-journal; do
	[ -e "$f" ] || continue
	mode_is "$f" 600 && pass || fail "${f#"$D/"} is mode $(stat -c %a "$f"), want 600"
done
# The token: every file 0600, every directory 0700.
n=0
while IFS= read -r -d '' f; do
	n=$((n + 1))
	want=600
	[ -d "$f" ] && want=700
	mode_is "$f" "$want" && pass ||
		fail "${f#"$D/"} is mode $(stat -c %a "$f"), want $want"
done < <(find "$D/hsm" -print0)
[ "$n" -ge 6 ] && pass || fail "only $n entries under hsm/"
ls "$D"/hsm/tokens/*/*.object >/dev/null 2>&1 && pass ||
	fail "no SoftHSM token objects under hsm/tokens/"
# What others may read: certificates and public keys (PEM without a
# private key), CRLs, the policy; and none of it may others write.
while IFS= read -r -d '' f; do
	m=$(stat -c %a "$f")
	case ${f#"$D/"} in
	*.pem)
		grep -q 'PRIVATE KEY' "$f" &&
			fail "${f#"$D/"} holds a private key and is mode $m"
		;;
	crl/* | policy.json) ;;
	*)
		fail "${f#"$D/"} is mode $m, readable by others"
		continue
		;;
	esac
	[ $((8#$m & 8#022)) = 0 ] && pass || fail "${f#"$D/"} is mode $m, writable by others"
done < <(find "$D" -type f -perm /044 -print0)
finish
