#!/usr/bin/env bash
# What the Central Server's HA suite (tests/ha) runs: haproxy with the rendered lb-edge
# configuration and TLS (openssl makes its test certificate), the PostgreSQL server binaries
# for a throwaway primary and standby (initdb, pg_basebackup, pg_ctl under
# /usr/lib/postgresql/<version>/bin), and runuser to run them as the postgres user.
source "$(dirname "$0")/../lib.sh"
apt_install haproxy openssl util-linux postgresql
