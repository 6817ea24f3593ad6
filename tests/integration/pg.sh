#!/usr/bin/env bash
# One PostgreSQL for the tests that need one, shared by all of them (a
# ctest fixture: fixture.pg_start and fixture.pg_stop in tests/CMakeLists.txt).
#
#   pg.sh start DIR        a fresh cluster in DIR, listening only on the Unix
#                          socket DIR/run (no TCP), started within seconds
#   pg.sh stop DIR         stop it and remove DIR
#   pg.sh newdb DIR NAME   a fresh database NAME owned by role tessera;
#                          prints its URL
#   pg.sh psql DIR [ARGS]  psql as the superuser
#
# Runs the server as an unprivileged user: the caller, or nobody when the
# caller is root (PostgreSQL refuses to run as root). Roles: tessera
# (trust, owns the databases), tessera_pw (password "tessera-test-pw",
# SCRAM), tessera_nogrants (trust, no rights on tessera's tables).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|newdb|psql DIR ...}
dir=${2:?usage: pg.sh $cmd DIR}
bin=${TESSERA_PG_BIN:-/usr/lib/postgresql/15/bin}
port=5432

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

case $cmd in
start)
	stop
	mkdir -p "$dir/run"
	[ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$dir"
	chmod 700 "$dir"
	owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C -N >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	cat >>"$dir/data/postgresql.conf" <<-CONF
		listen_addresses = ''
		unix_socket_directories = '$dir/run'
		port = $port
		fsync = off
		full_page_writes = off
		shared_buffers = 16MB
		max_connections = 60
		password_encryption = 'scram-sha-256'
	CONF
	cat >"$dir/data/pg_hba.conf" <<-HBA
		local all tessera_pw scram-sha-256
		local all all trust
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
	echo "PostgreSQL up in $dir/run"
	;;
stop)
	stop
	;;
newdb)
	name=${3:?usage: pg.sh newdb DIR NAME}
	su_psql -d postgres -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
	su_psql -d postgres -c "CREATE DATABASE \"$name\" OWNER tessera"
	echo "postgresql://tessera@/$name?host=$dir/run&port=$port"
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
