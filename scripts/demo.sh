#!/usr/bin/env bash
# The sensor's main job on its embedded default, no NIC needed: the shipped sample capture
# (scripts/sample.pcap) replayed through the prevention bridge on DPDK's pcap devices, with
# the shipped policy (drop one host's traffic), printing what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p sensor -q
out=${DEMO_OUT:-/tmp/sensor-demo}
mkdir -p "$out"
target/release/sensor replay \
  --pcap scripts/sample.pcap \
  --mode prevention \
  --config sensor.example.toml \
  --set 'policy.drop_addresses=["10.0.0.7"]' \
  --out "$out/forwarded.pcap" \
  --reply-out "$out/replies.pcap" > "$out/stats.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
s = json.load(open(f"{out}/stats.json"))
inp, outp = s["ports"][0], s["ports"][1]
print(f"mode:        {s['mode']}")
print(f"received:    {inp['rx']} packets on {inp['name']} (scripts/sample.pcap)")
print(f"dropped:     {inp['policy_drops']} (policy: traffic of 10.0.0.7)")
print(f"forwarded:   {outp['tx']} to {out}/forwarded.pcap")
w = s["workers"][0]
print(f"worker:      core {w['core']}, {w['bursts']} bursts, {w['busy_cycles_per_packet']:.0f} cycles/packet (pcap file I/O included)")
print(f"mempool:     {s['mempool']['in_use']} of {s['mempool']['size']} mbufs still out after shutdown")
print(f"full stats:  {out}/stats.json")
PY
