#!/usr/bin/env bash
# OpenSSH server and client, for the deploy tests that reach Podman over SSH: each test starts
# its own sshd (own host key, own authorized_keys, a loopback port) and stops it by its pid;
# nothing is started here and the system's sshd configuration is not touched.
source "$(dirname "$0")/../lib.sh"
apt_install openssh-server openssh-client
