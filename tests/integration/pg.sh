#!/usr/bin/env bash
# One PostgreSQL for the tests that need one, shared by all of them (a
# ctest fixture: fixture.pg_start and fixture.pg_stop in tests/CMakeLists.txt).
#
#   pg.sh start DIR        a fresh cluster in DIR, on the Unix socket DIR/run
#                          (trust) and on loopback TCP (TLS only), started
#                          within seconds; its URL in DIR/url
#   pg.sh stop DIR         stop it and remove DIR
#   pg.sh newdb DIR NAME   a fresh database NAME owned by role tessera;
#                          prints its URL
#   pg.sh psql DIR [ARGS]  psql as the superuser
#   pg.sh tcp DIR          the loopback TCP port, where only TLS is let in
#   pg.sh hang DIR         a listener on the Unix socket DIR/hung.sock that
#                          takes connections and never answers (a host
#                          that hangs); runs until killed, as this pid
#
# Runs the server as an unprivileged user: the caller, or nobody when the
# caller is root (PostgreSQL refuses to run as root). Roles: tessera
# (trust, owns the databases), tessera_pw (password "tessera-test-pw",
# SCRAM), tessera_nogrants (trust, no rights on tessera's tables).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|newdb|psql|tcp|hang DIR ...}
dir=${2:?usage: pg.sh $cmd DIR}
bin=${TESSERA_PG_BIN:-/usr/lib/postgresql/15/bin}
# The port (the socket's name and the TCP listener) is picked at start.
port=$(cat "$dir/tcp_port" 2>/dev/null || echo 5432)

owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

su_psql() {
	"$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" \
		-U postgres "$@"
}

stop() {
	if [ -f "$dir/data/postmaster.pid" ]; then
		owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 \
			stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

# One try at a fresh cluster (a port taken meanwhile, a slow start on a
# loaded machine: the caller tries again).
start_once() {
	stop
	mkdir -p "$dir/run"
	[ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$dir"
	chmod 700 "$dir"
	owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C -N >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	# Loopback TCP takes TLS connections only (a TLS-required server).
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/data/server.key" -out "$dir/data/server.crt" \
		-subj /CN=127.0.0.1 -days 2 2>/dev/null
	[ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir/data/server.key" \
		"$dir/data/server.crt"
	chmod 600 "$dir/data/server.key"
	tcp=
	for _ in $(seq 1 200); do
		# Below the kernel's ephemeral range (and below the ports the
		# integration tests pick, 20000-32767).
		p=$((10000 + RANDOM % 10000))
		[ -z "$(ss -ltnH "sport = :$p" 2>/dev/null)" ] && { tcp=$p; break; }
	done
	[ -n "$tcp" ] || { echo "pg.sh: no free port" >&2; exit 1; }
	echo "$tcp" >"$dir/tcp_port"
	port=$tcp
	cat >>"$dir/data/postgresql.conf" <<-CONF
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir/run'
		port = $tcp
		ssl = on
		fsync = off
		full_page_writes = off
		shared_buffers = 16MB
		max_connections = 60
		password_encryption = 'scram-sha-256'
	CONF
	cat >"$dir/data/pg_hba.conf" <<-HBA
		local all tessera_pw scram-sha-256
		local all all trust
		hostssl all all 127.0.0.1/32 trust
	HBA
	owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		start >/dev/null ||
		{ cat "$dir/server.log" >&2; exit 1; }
	chmod 755 "$dir"
	su_psql -d postgres <<-SQL
		CREATE ROLE tessera LOGIN CREATEDB;
		CREATE ROLE tessera_pw LOGIN PASSWORD 'tessera-test-pw';
		CREATE ROLE tessera_nogrants LOGIN;
		CREATE DATABASE tessera OWNER tessera;
	SQL
	echo "postgresql://tessera@/tessera?host=$dir/run&port=$port" >"$dir/url"
	echo "PostgreSQL up in $dir/run, port $port"
}

case $cmd in
start)
	for try in 1 2 3; do
		if (start_once); then
			exit 0
		fi
		echo "pg.sh: start failed (try $try), trying again" >&2
		[ -f "$dir/server.log" ] && tail -5 "$dir/server.log" >&2
	done
	exit 1
	;;
stop)
	stop
	;;
newdb)
	name=${3:?usage: pg.sh newdb DIR NAME}
	PGOPTIONS='-c client_min_messages=warning' su_psql -d postgres \
		-c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
	su_psql -d postgres -c "CREATE DATABASE \"$name\" OWNER tessera"
	echo "postgresql://tessera@/$name?host=$dir/run&port=$port"
	;;
tcp)
	echo "$port"
	;;
hang)
	exec python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(128)
held = []
while True:
    held.append(s.accept()[0])' "$dir/hung.sock"
	;;
psql)
	shift 2
	su_psql "$@"
	;;
*)
	echo "pg.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
