#!/usr/bin/env bash
# Docker Engine (Debian docker.io) started in the background without systemd, as a
# single-node swarm advertising on loopback: the Swarm target's deploy tests run against it.
source "$(dirname "$0")/../lib.sh"
apt_install docker.io
SOCK=/var/run/docker.sock
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  # setsid: dockerd must outlive this script and the shell that ran setup.sh.
  setsid nohup dockerd --host "unix://$SOCK" >/var/log/attonix-dockerd.log 2>&1 </dev/null &
  wait_for "dockerd socket" 60 docker info
fi
state="$(docker info --format '{{.Swarm.LocalNodeState}}')"
if [ "$state" != "active" ]; then
  log "docker swarm init"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi
wait_for "swarm manager" 30 docker node ls
# Failure-domain labels the rendered placement constraints refer to; the one test node
# stands for every zone and rack a test blueprint declares.
node="$(docker info --format '{{.Swarm.NodeID}}')"
docker node update --label-add zone=zone-test --label-add rack=rack-test "$node" >/dev/null
