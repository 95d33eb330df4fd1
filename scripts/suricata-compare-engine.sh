#!/usr/bin/env bash
# Compares the sensor's alerts with Suricata 7's (`suricata -k none -r X.pcap -S X.rules`):
#   1. the keyword capture (`gen-pcap keywords`: split contents plain, VLAN, IPv6, HTTP
#      buffers, flowbits, out-of-order data, pass, flags, dsize, ICMP, QinQ, thresholds)
#      with scripts/compare.rules, Suricata in its default (IDS) stream mode and in its
#      inline mode (`stream.inline=true`, which inspects each segment as it comes, as the
#      sensor does);
#   2. every shared capture (../shared/data/pcaps/*.pcap), and two generated mixes (the
#      bridge-fidelity mix and the benchmark mix, 20,000 frames each), with all of ET Open.
# Suricata runs single-threaded (`--runmode single`): with its default worker threads the
# packet that takes a shared threshold (`track by_dst`) depends on thread timing.
# Alerts are compared as (sid, source, source port, destination, destination port) with
# their counts; prints each difference. Needs suricata (bookworm-backports); not part of
# the test suite (tests/engine.rs holds the agreed results of part 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DATA:-$root/../shared/data}
work=${WORK:-$(mktemp -d)}
cd "$root" && cargo build --release -q -p sensor -p testkit
"$root/target/release/gen-pcap" keywords "$work/keywords.pcap"
cat "$data"/et-open/*.rules > "$work/et-open.rules"
compare() {
  local pcap=$1 rules=$2 name=$3
  shift 3
  rm -rf "$work/suri" && mkdir -p "$work/suri"
  # A capture Suricata cannot open (one without packets) gives it no alerts, not an exit.
  suricata -k none --runmode single -r "$pcap" -S "$rules" -l "$work/suri" "$@" >/dev/null 2>&1 || true
  touch "$work/suri/eve.json"
  "$root/target/release/sensor" replay --pcap "$pcap" --rules "$rules" --eve "$work/sensor.json" >/dev/null 2>&1
  python3 - "$work/suri/eve.json" "$work/sensor.json" "$name" <<'PY'
import collections, ipaddress, json, sys
def alerts(path):
    out = collections.Counter()
    for line in open(path):
        e = json.loads(line)
        if e.get("event_type") == "alert":
            ip = lambda k: str(ipaddress.ip_address(e[k]))
            out[(e["alert"]["signature_id"], ip("src_ip"), e.get("src_port"), ip("dest_ip"), e.get("dest_port"))] += 1
    return out
s, o = alerts(sys.argv[1]), alerts(sys.argv[2])
same = sum((s & o).values())
print(f"{sys.argv[3]}: suricata {sum(s.values())} alerts, sensor {sum(o.values())}, in common {same}")
for k in sorted(set(s) | set(o), key=str):
    if s[k] != o[k]:
        print(f"  differs: sid {k[0]} {k[1]}:{k[2]} -> {k[3]}:{k[4]}: suricata {s[k]}, sensor {o[k]}")
PY
}
compare "$work/keywords.pcap" "$root/scripts/compare.rules" "keywords, IDS stream mode"
compare "$work/keywords.pcap" "$root/scripts/compare.rules" "keywords, inline stream mode" \
  --set stream.inline=true
"$root/target/release/gen-pcap" fidelity 20000 "$work/fidelity.pcap" 3
"$root/target/release/gen-pcap" mix 20000 2000 "$work/mix.pcap" 1
for p in "$data"/pcaps/*.pcap "$work/fidelity.pcap" "$work/mix.pcap"; do
  compare "$p" "$work/et-open.rules" "$(basename "$p") + ET Open"
done
