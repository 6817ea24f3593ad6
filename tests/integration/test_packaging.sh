#!/usr/bin/env bash
# Packaging. Every command `tessera --help` lists has a section in the man
# page, and every option its --help prints is in that section and the
# other way round; bash completion offers the same options. `cmake
# --install` into a DESTDIR lays out the binary, the systemd unit (naming
# the installed binary), the default policy, the man page and the
# completion where the system looks for them. `systemd-analyze verify`
# accepts the installed unit without a warning (and warns about it broken), and `systemd-analyze
# security` rates it at most 2.5. Every command that takes --data finds
# the data directory through $TESSERA_DATA without it.
. "$(dirname "$0")/lib.sh"
: "${TESSERA_BUILD:?TESSERA_BUILD must point at the build tree}"
MAN=$TESSERA_SOURCE/packaging/tessera.1
COMPLETION=$TESSERA_SOURCE/packaging/tessera.bash-completion

# Options named in text: --word, one per line, sorted, without --help.
opts_of() { grep -oE -- '--[a-z][a-z0-9-]*' | grep -vx -- '--help' | sort -u; }
# The man page's section of one command, roff escapes undone.
man_section() {
	sed 's/\\-/-/g' "$MAN" |
		awk -v c="$1" '/^\.S[SH] / {on = ($0 == ".SS " c); next} on'
}

commands=$("$TESSERA_BIN" --help | awk '/^commands:/ {on=1; next}
	on && /^  [a-z]/ {print $1} on && /^$/ {exit}')
[ "$(echo "$commands" | wc -w)" -ge 10 ] && pass ||
	fail "tessera --help lists $(echo "$commands" | wc -w) commands"
sections=$(grep -E '^\.SS ' "$MAN" | awk '{print $2}' | sort)
[ "$sections" = "$(echo "$commands" | sort)" ] && pass ||
	fail "man sections ($(echo $sections)) are not the commands ($(echo $commands))"

# shellcheck disable=SC1090
. "$COMPLETION"
# complete_opts WORD...: what completion offers after "tessera WORD... --".
complete_opts() {
	COMP_WORDS=(tessera "$@" --)
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_tessera
	printf '%s\n' "${COMPREPLY[@]}" | opts_of
}
for c in $commands; do
	"$TESSERA_BIN" "$c" --help >"$T/help.$c" 2>&1 ||
		fail "tessera $c --help exits non-zero"
	opts_of <"$T/help.$c" >"$T/help.$c.opts"
	man_section "$c" | opts_of >"$T/man.$c.opts"
	if [ -s "$T/help.$c.opts" ] && diff -u "$T/help.$c.opts" \
		"$T/man.$c.opts" >"$T/diff.$c"; then pass; else
		fail "tessera $c: --help and the man page name other options" \
			"(- --help, + man)"
		sed 's/^/    /' "$T/diff.$c" >&2
	fi
	case $c in
	token | audit) first=$( [ "$c" = token ] && echo rotate || echo verify)
		complete_opts "$c" "$first" >"$T/comp.$c.opts" ;;
	ca) complete_opts "$c" import >"$T/comp.$c.opts" ;;
	store) complete_opts "$c" migrate >"$T/comp.$c.opts" ;;
	secret) complete_opts "$c" list >"$T/comp.$c.opts" ;;
	*) complete_opts "$c" >"$T/comp.$c.opts" ;;
	esac
	if diff -u "$T/help.$c.opts" "$T/comp.$c.opts" >"$T/cdiff.$c"; then
		pass
	else
		fail "tessera $c: completion offers other options (- --help, + completion)"
		sed 's/^/    /' "$T/cdiff.$c" >&2
	fi
done
complete -p tessera 2>/dev/null | grep -q _tessera && pass ||
	fail "the completion does not register for tessera"
COMP_WORDS=(tessera "")
COMP_CWORD=1
_tessera
[ "$(printf '%s\n' "${COMPREPLY[@]}" | grep -v '^-' | sort)" = \
	"$(echo "$commands" | sort)" ] && pass ||
	fail "completion offers commands ${COMPREPLY[*]}, --help lists $(echo $commands)"
COMP_WORDS=(tessera ba)
COMP_CWORD=1
_tessera
[ "${COMPREPLY[*]}" = backup ] && pass || fail "completion of 'ba': ${COMPREPLY[*]}"

# --data from the environment, for every command that takes it.
check "init with TESSERA_DATA" env TESSERA_DATA="$T/envdata" \
	"$TESSERA_BIN" init
check "audit verify with TESSERA_DATA" env TESSERA_DATA="$T/envdata" \
	"$TESSERA_BIN" audit verify
check "backup with TESSERA_DATA" env TESSERA_DATA="$T/envdata" \
	"$TESSERA_BIN" backup --to "$T/env.tar"
if [ ! -e /var/lib/tessera/tessera.json ]; then
	refuse "without --data or TESSERA_DATA: /var/lib/tessera" \
		"/var/lib/tessera is not a tessera data directory" \
		env -u TESSERA_DATA "$TESSERA_BIN" audit verify
else
	check "without --data or TESSERA_DATA: /var/lib/tessera (installed)" \
		env -u TESSERA_DATA "$TESSERA_BIN" audit verify
fi

# cmake --install into a DESTDIR.
R=$T/root
if DESTDIR=$R cmake --install "$TESSERA_BUILD" --prefix /usr \
	>"$T/install.out" 2>&1; then pass; else
	fail "cmake --install"
	sed 's/^/    /' "$T/install.out" >&2
fi
for f in usr/bin/tessera usr/lib/systemd/system/tessera.service \
	usr/share/tessera/default.json usr/share/man/man1/tessera.1 \
	usr/share/bash-completion/completions/tessera; do
	[ -f "$R/$f" ] && pass || fail "not installed: /$f"
done
check "the installed binary runs" "$R/usr/bin/tessera" --version
check "the installed binary is executable by all" mode_is "$R/usr/bin/tessera" 755
check "the default policy is the source's" cmp "$R/usr/share/tessera/default.json" \
	"$TESSERA_SOURCE/policies/default.json"
check "the man page is the source's" cmp "$R/usr/share/man/man1/tessera.1" "$MAN"
U=$R/usr/lib/systemd/system/tessera.service
grep -qx 'ExecStart=/usr/bin/tessera serve --data ${TESSERA_DATA}' "$U" &&
	pass || fail "the unit does not start /usr/bin/tessera: $(grep ExecStart "$U")"
for d in User=tessera ProtectSystem=strict NoNewPrivileges=yes \
	StateDirectory=tessera PrivateTmp=yes ProtectHome=yes \
	CapabilityBoundingSet= Environment=TESSERA_DATA=/var/lib/tessera; do
	grep -qx -- "$d" "$U" && pass || fail "the unit lacks $d"
done
if man -l "$R/usr/share/man/man1/tessera.1" >/dev/null 2>"$T/man.err" &&
	! grep -q . "$T/man.err"; then pass; else
	fail "man reads the page with warnings"
	sed 's/^/    /' "$T/man.err" >&2
fi

# systemd-analyze on the installed unit; the binary it names is the
# DESTDIR's (nothing is installed into this machine's /usr).
if ! command -v systemd-analyze >/dev/null; then
	fail "systemd-analyze is missing (Debian package systemd, scripts/deps)"
else
	sed "s|/usr/bin/tessera|$R/usr/bin/tessera|" "$U" >"$T/tessera.service"
	# It only warns about a value it cannot parse: any output fails.
	if systemd-analyze verify --man=no "$T/tessera.service" \
		>"$T/verify.out" 2>&1 && ! grep -q . "$T/verify.out"; then
		pass
	else
		fail "systemd-analyze verify"
		sed 's/^/    /' "$T/verify.out" >&2
	fi
	mkdir -p "$T/broken"
	sed 's/^ProtectSystem=strict/ProtectSystem=stricter/' \
		"$T/tessera.service" >"$T/broken/tessera.service"
	if ! systemd-analyze verify --man=no "$T/broken/tessera.service" \
		>"$T/broken.out" 2>&1 || grep -q stricter "$T/broken.out"; then
		pass
	else
		fail "systemd-analyze verify accepts ProtectSystem=stricter"
	fi
	if systemd-analyze security --offline=yes --threshold=25 \
		"$T/tessera.service" >"$T/security.out" 2>&1; then pass; else
		fail "systemd-analyze security: $(tail -1 "$T/security.out")"
	fi
fi

finish
