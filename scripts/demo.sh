#!/usr/bin/env bash
# The sensor's main job on its embedded default, no NIC needed: the shipped sample capture
# (scripts/sample.pcap: generated background traffic with an excerpt of a real Log4Shell
# exploit chain, then DNS: ordinary lookups, two names on the demo block list, and
# tunnel-shaped NULL queries) replayed through the prevention bridge on DPDK's pcap devices
# with the shipped rules (rules/) and the demo domain list, printing what happened.
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
  --rules rules/ \
  --lists scripts/demo-blocklist.txt \
  --eve "$out/eve.json" \
  --out "$out/forwarded.pcap" \
  --reply-out "$out/replies.pcap" > "$out/stats.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
s = json.load(open(f"{out}/stats.json"))
inp, outp = s["ports"][0], s["ports"][1]
print(f"mode:        {s['mode']}")
print(f"received:    {inp['rx']} packets on {inp['name']} (scripts/sample.pcap)")
e = s["engine"]
print(f"dropped:     {inp['policy_drops']} (the rest of each flow a drop rule matched)")
print(f"forwarded:   {outp['tx']} to {out}/forwarded.pcap")
print(f"flows:       {e['flows_created']}; decode errors {sum(e['decode_errors'].values())} (forwarded untouched)")
print(f"DNS:         {e['dns_messages']} messages, {e['dns_list_hits']} on the block list, "
      f"{e['dns_answers_forged']} answered NXDOMAIN by the sensor ({out}/replies.pcap)")
print(f"alerts:      {e['alerts']} in {out}/eve.json")
for line in open(f"{out}/eve.json"):
    a = json.loads(line)
    if a["event_type"] == "alert":
        print(f"  [{a['alert']['action']:7}] {a['src_ip']}:{a.get('src_port', '')} -> "
              f"{a['dest_ip']}:{a.get('dest_port', '')}  {a['alert']['signature_id']} {a['alert']['signature']}")
w = s["workers"][0]
print(f"worker:      core {w['core']}, {w['bursts']} bursts, {w['busy_cycles_per_packet']:.0f} cycles/packet (pcap file I/O included)")
print(f"mempool:     {s['mempool']['in_use']} of {s['mempool']['size']} mbufs still out after shutdown")
print(f"full stats:  {out}/stats.json")
PY
