# Shared by the integration tests: a fresh work directory, checks that keep
# going and a tally in the closing line ctest and CI read.
set -u
: "${TESSERA_BIN:?TESSERA_BIN must point at the tessera binary}"
: "${TESSERA_SOURCE:?TESSERA_SOURCE must point at the source tree}"
T=$(mktemp -d "${TMPDIR:-/tmp}/tessera-it-XXXXXX")
PASSED=0
FAILED=0
cleanup_hooks=()
on_exit() {
	local h
	for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
	if [ "$FAILED" = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
}
trap on_exit EXIT

pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# check "description" command...: the command must succeed.
check() {
	local what=$1
	shift
	if "$@" >"$T/last.out" 2>&1; then pass; else
		fail "$what"; sed 's/^/    /' "$T/last.out" >&2; fi
}

# refuse "description" "expected text" command...: the command must fail
# and say the expected text on stderr or stdout.
refuse() {
	local what=$1 want=$2
	shift 2
	if "$@" >"$T/last.out" 2>&1; then
		fail "$what: succeeded"
	elif ! grep -qF -- "$want" "$T/last.out"; then
		fail "$what: message lacks '$want'"
		sed 's/^/    /' "$T/last.out" >&2
	else pass; fi
}

# mode_is FILE OCTAL
mode_is() { [ "$(stat -c %a "$1")" = "$2" ]; }

# An EC P-256 key and CSR: csr NAME SUBJECT [openssl -addext ...]
csr() {
	local name=$1 subj=$2
	shift 2
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$name.key" -subj "$subj" -out "$T/$name.csr" \
		"$@" 2>/dev/null
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}
