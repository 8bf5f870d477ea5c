#!/usr/bin/env bash
# What the three-node Swarm test (tests/integration/swarm3) needs besides Docker itself
# (21-docker.sh): network namespaces, veth pairs and a bridge (iproute2), the DOCKER-USER
# rule for bridged traffic (iptables), nsenter and unshare (util-linux). The test builds the
# cluster itself and removes it afterwards, together with what an interrupted run left; nothing
# is started here.
source "$(dirname "$0")/../lib.sh"
apt_install iproute2 iptables util-linux
for tool in ip iptables nsenter unshare dockerd; do
  command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }
done
