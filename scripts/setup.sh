#!/usr/bin/env bash
# Installs what the build, the demo, the tests and the benchmark need, idempotently and
# quietly when already done. Run as root on Debian 12.
#
#   scripts/setup.sh                 system packages only
#   scripts/setup.sh --hugepages N   also reserve N 2 MiB hugepages and mount hugetlbfs
#                                    (only `sensor run` on real NICs needs them; replay,
#                                    the tests and the benchmark run with --no-huge)
set -euo pipefail

packages=(
  dpdk dpdk-dev libdpdk-dev   # DPDK 22.11: libraries, PMDs (net_pcap, net_null, net_af_packet), dpdk-testpmd
  libclang-dev pkg-config     # bindgen and the DPDK probe in dpdk-bindings/build.rs
  gcc libc6-dev               # the C shim
  libpcap-dev                 # net_pcap's libpcap
  libhyperscan-dev            # Hyperscan, the prefilter of payload groups
  libpcre2-dev                # PCRE2: the pcre expressions the regex crate cannot express
  iproute2 iputils-ping ethtool procps python3   # the namespace lab and its test
  dnsmasq-base bind9-dnsutils                     # the DNS lab test: a real server, dig
)

hugepages=""
while [ $# -gt 0 ]; do
  case "$1" in
    --hugepages) hugepages="${2:?--hugepages needs a count}"; shift 2 ;;
    *) echo "usage: $0 [--hugepages N]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  case "$p" in \#*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install a Rust toolchain (rustup, stable >= 1.80)" >&2
  exit 1
fi

if [ -n "$hugepages" ]; then
  echo "$hugepages" > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
  if ! mount | grep -q "type hugetlbfs"; then
    mkdir -p /dev/hugepages
    mount -t hugetlbfs nodev /dev/hugepages
  fi
  got=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)
  [ "$got" -ge "$hugepages" ] || { echo "setup: only $got of $hugepages hugepages reserved" >&2; exit 1; }
fi
