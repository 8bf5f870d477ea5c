#!/usr/bin/env bash
# PostgreSQL and MariaDB for the Central Server's test suite (pre-started on these machines;
# started here when they are not). Also wrk, the HTTP load generator of bench/bench_server.py.
source "$(dirname "$0")/../lib.sh"

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
maria_up() { mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -uroot status >/dev/null 2>&1; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt_install postgresql
fi
if ! pg_up; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
wait_for "PostgreSQL" 60 pg_up

if [ ! -x /usr/sbin/mariadbd ]; then
  apt_install mariadb-server
fi
if ! maria_up; then
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
fi
wait_for "MariaDB" 60 maria_up

apt_install wrk
# The database driver's tests start throwaway servers with TLS (tests/integration/databases):
# PostgreSQL's initdb/pg_ctl come with the server package, MariaDB's mariadb-install-db too;
# openssl makes their certificates.
apt_install openssl
