#!/usr/bin/env bash
# Compares the sensor with Suricata 7 on ET Open's `alert dns` rules: generated DNS traffic
# whose names are built from the rules' own contents (names that should match, and near
# misses: a letter changed, a label glued on without a dot), plus the shared DNS captures.
# Prints, per input, the alerts (pcap_cnt, sid) each side raised and the differences.
# Needs suricata (bookworm-backports); not part of the test suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DATA:-$root/../shared/data}
work=${WORK:-$(mktemp -d)}
cd "$root" && cargo build --release -q -p sensor -p testkit
grep -h '^alert dns' "$data"/et-open/*.rules > "$work/dns.rules"
python3 - "$work" <<'PY'
import re, sys, random
work = sys.argv[1]
random.seed(7)
match, miss = [], []
for line in open(f"{work}/dns.rules"):
    m = re.search(r'dns[._]query;(.*?)(?:sid:)', line)
    if not m or 'pcre' in m.group(1):
        continue
    contents = re.findall(r'content:"([^"|]+)"', m.group(1))
    if len(contents) != 1:
        continue
    c = contents[0].lower().strip('.')
    if not re.fullmatch(r'[a-z0-9.-]+', c) or '.' not in c:
        continue
    match += [c, "www." + c]
    i = random.randrange(len(c))
    swapped = c[:i] + ('x' if c[i] != 'x' else 'y') + c[i + 1:]
    miss += [swapped, "not" + c]
random.shuffle(match); random.shuffle(miss)
open(f"{work}/match.txt", "w").write("\n".join(match[:3000]) + "\n")
open(f"{work}/miss.txt", "w").write("\n".join(miss[:3000]) + "\n")
PY
"$root/target/release/gen-pcap" dns 6000 "$work/miss.txt" "$work/match.txt" 50 "$work/generated.pcap" 3
compare() {
  local pcap=$1 name=$2
  rm -rf "$work/suri" && mkdir -p "$work/suri"
  suricata -k none -r "$pcap" -S "$work/dns.rules" -l "$work/suri" >/dev/null 2>&1
  "$root/target/release/sensor" replay --pcap "$pcap" --rules "$work/dns.rules" --eve "$work/sensor.json" >/dev/null 2>&1
  python3 - "$work/suri/eve.json" "$work/sensor.json" "$name" <<'PY'
import json, sys
def alerts(p):
    out = set()
    for l in open(p):
        e = json.loads(l)
        if e.get("event_type") == "alert":
            out.add((e.get("pcap_cnt"), e["alert"]["signature_id"]))
    return out
s, o = alerts(sys.argv[1]), alerts(sys.argv[2])
print(f"{sys.argv[3]}: suricata {len(s)} alerts, sensor {len(o)}, same {len(s & o)}, "
      f"only suricata {sorted(s - o)[:10]}, only sensor {sorted(o - s)[:10]}")
PY
}
compare "$work/generated.pcap" generated
for p in "$data"/pcaps/dns-*.pcap; do compare "$p" "$(basename "$p")"; done
