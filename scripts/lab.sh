#!/usr/bin/env bash
# Network-namespace lab: `client` (10.77.0.1) and `server` (10.77.0.2) joined only through
# two veth pairs whose root-namespace ends (lab-c, lab-s) the sensor bridges with
# net_af_packet in prevention mode (scripts/lab.toml). Without the sensor running, nothing
# crosses.
#
#   scripts/lab.sh up      create namespaces and veths (idempotent)
#   scripts/lab.sh down    remove them
#   scripts/lab.sh config  print the path of the matching sensor config
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# Offloads off: with TSO/GSO a veth hands af_packet 64 KB super-frames, and with tx
# checksum offload frames cross the bridge with unfinished checksums.
quiet_offloads() {
  local ns=$1 dev=$2
  ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 ||
    ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
}

up() {
  down >/dev/null 2>&1 || true
  ip netns add client
  ip netns add server
  ip link add lab-c type veth peer name eth0 netns client
  ip link add lab-s type veth peer name eth0 netns server
  for dev in lab-c lab-s; do
    sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" || true
    ip link set "$dev" up promisc on
    ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  done
  ip -n client addr add 10.77.0.1/24 dev eth0
  ip -n server addr add 10.77.0.2/24 dev eth0
  for ns in client server; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    quiet_offloads "$ns" eth0
  done
  echo "lab up: client 10.77.0.1 <-> [lab-c | sensor | lab-s] <-> server 10.77.0.2"
}

down() {
  ip netns del client 2>/dev/null || true
  ip netns del server 2>/dev/null || true
  ip link del lab-c 2>/dev/null || true
  ip link del lab-s 2>/dev/null || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  config) echo "$here/lab.toml" ;;
  *) echo "usage: $0 up|down|config" >&2; exit 2 ;;
esac
