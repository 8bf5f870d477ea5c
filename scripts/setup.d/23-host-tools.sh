#!/usr/bin/env bash
# Tools that check the host-layer targets for real: nft (and network namespaces from iproute2)
# for firewall rulesets and traffic tests, cloud-init's schema checker, Ruby for Chef syntax,
# haproxy's own config check (and a real TLS run, with curl and openssl for an internal CA),
# and python3 for a listener inside a namespace.
source "$(dirname "$0")/../lib.sh"
apt_install nftables iproute2 util-linux cloud-init ruby haproxy python3 curl openssl
