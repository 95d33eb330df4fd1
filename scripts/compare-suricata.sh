#!/usr/bin/env bash
# The sensor beside Suricata 7 and dpdk-testpmd on the same capture (a benchmark, not a
# test; the test suite never runs it). Each round measures, one after the other on the same
# cores and the same net_pcap vdev (the realistic mix, infinite_rx=1):
#   testpmd   --forward-mode=rxonly, one forwarding core: what the device gives
#   sensor    detection mode, one worker, each RULESET
#   suricata  --dpdk, one worker thread (copy-mode none: IDS), each RULESET
# and prints per-core rates (Mpps) and alerts per pass of the capture for each, then the
# min/median/max over rounds. Rulesets (the same file for both):
#   none       an empty rules file
#   synthetic  SYNTHETIC (11,000) generated rules: half DNS names (dns.query, endswith),
#              half payload contents, none of which the mix carries
#   etopen     every rule of ../shared/data/et-open, concatenated into one file
#
# Flow reuse: infinite_rx replays the same bytes, so each pass reuses every 5-tuple and
# ISN. Every TCP session of the mix ends (FIN or RST). The sensor starts a new flow on a
# SYN on a closed connection; Suricata does so only for a new ISN and otherwise treats
# the replayed SYN as a retransmission, so it is given tcp closed/emergency-closed
# timeouts of 0 and its flow manager frees the closed flows between passes. Alerts per
# pass show whether each side inspected every pass as new sessions.
#
# Suricata comes from Debian's bookworm-backports (apt-get install -t bookworm-backports
# suricata; its configuration is written with python3-yaml); without either the script
# says so and exits 2.
#
#   scripts/compare-suricata.sh
#   ROUNDS=3 SECS=20 SESSIONS=4000 RULESETS="none synthetic etopen" scripts/compare-suricata.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-4000}
SECS=${SECS:-20}
ROUNDS=${ROUNDS:-3}
RULESETS=${RULESETS:-none synthetic etopen}
SYNTHETIC=${SYNTHETIC:-11000}
WORKER_CORE=${WORKER_CORE:-1}
MAIN_CORE=${MAIN_CORE:-0}
MBUFS=${MBUFS:-262143}
ET_OPEN=${ET_OPEN:-$(cd .. && pwd)/shared/data/et-open}
work=${BENCH_DIR:-/tmp/sensor-compare}
mkdir -p "$work"

if ! command -v suricata >/dev/null; then
  echo "suricata is not installed: apt-get install -t bookworm-backports suricata" >&2
  exit 2
fi
python3 -c 'import yaml' 2>/dev/null || { echo "python3-yaml is needed to write Suricata's configuration: apt-get install python3-yaml" >&2; exit 2; }
build_info=$(suricata --build-info)
grep -q 'DPDK support: *yes' <<<"$build_info" || { echo "this suricata has no DPDK support" >&2; exit 2; }
[ "${SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --locked -q -p sensor -p testkit

mix="$work/realistic-$SESSIONS.pcap"
[ -f "$mix" ] || target/release/gen-pcap realistic "$SESSIONS" "$mix" 1
frames=$(python3 scripts/count-frames.py "$mix")

: > "$work/none.rules"
cat "$ET_OPEN"/*.rules > "$work/etopen.rules"
python3 - "$SYNTHETIC" "$work/synthetic.rules" <<'PY'
import random, sys
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1)
letters = "abcdefghijklmnopqrstuvwxyz0123456789"
word = lambda a, b: "".join(rng.choice(letters) for _ in range(rng.randint(a, b)))
with open(out, "w") as f:
    for i in range(n):
        sid = 9_000_000 + i
        if i % 2 == 0:
            f.write(f'alert dns any any -> any any (msg:"synthetic name {i}"; dns.query; '
                    f'content:"{word(6, 14)}.{rng.choice(["com", "net", "org", "info"])}"; '
                    f'nocase; endswith; sid:{sid};)\n')
        else:
            f.write(f'alert tcp any any -> any any (msg:"synthetic payload {i}"; '
                    f'flow:established; content:"{word(8, 16)}"; sid:{sid};)\n')
PY

vdev="net_pcap_mix,rx_pcap=$mix,infinite_rx=1"
eal=(--no-huge -m "${EAL_MB:-2048}" --no-pci --no-shconf --no-telemetry --log-level=lib.eal:warning)
results="$work/results.txt"
: > "$results"

# Lets process PID run SECS seconds from when FILE first shows PATTERN (it has started
# its ports), then stops it with SIGNAL and waits for it.
measure() {
  local pid=$1 file=$2 pattern=$3 signal=$4
  until grep -q "$pattern" "$file" 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
  sleep "$SECS"
  kill -"$signal" "$pid"
  wait "$pid" || true
}

# testpmd: the median of its per-second rx rates, first two dropped.
run_testpmd() {
  local log="$work/testpmd.log"
  timeout -s INT "$((SECS + 6))" dpdk-testpmd "${eal[@]}" --lcores="0@$MAIN_CORE,1@$WORKER_CORE" \
    --vdev "$vdev" -- --forward-mode=rxonly --port-topology=loop --nb-cores=1 --total-num-mbufs="$MBUFS" \
    --burst=32 --stats-period=1 >"$log" 2>&1 || true
  python3 - "$log" <<'PY'
import re, statistics, sys
rates = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", open(sys.argv[1]).read())][2:]
print(f"{statistics.median(rates) / 1e6:.3f} -")
PY
}

# The sensor in detection mode: rate from its 1 s stats lines (first one dropped), alerts
# per pass from the final counts.
run_sensor() {
  local rules=$1 config="$work/sensor.toml" out="$work/sensor.out"
  python3 - "$config" "$MAIN_CORE" "$WORKER_CORE" "$MBUFS" "$rules" "$vdev" "${eal[@]}" <<'PY'
import json, sys
path, main, worker, mbufs, rules, vdev, *eal = sys.argv[1:]
eal = eal + ["--vdev", vdev, f"--lcores=0@{main}"]
open(path, "w").write(f"""mode = "detection"
stats_interval_secs = 1
[eal]
args = {json.dumps(eal)}
[ports]
span = ["net_pcap_mix"]
[workers]
cores = [{worker}]
[mempool]
size = {mbufs}
[detect]
rules = {json.dumps([rules])}
""")
PY
  target/release/sensor run --config "$config" >"$out" 2>"$work/sensor.err" &
  # Rules compile before the ports start; the stats lines start after that.
  measure $! "$out" '"uptime_secs"' TERM
  python3 - "$out" "$frames" <<'PY'
import json, statistics, sys
s = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
frames = int(sys.argv[2])
p = [x for x in s if not x["final"]]
rates = [(b["ports"][0]["rx"] - a["ports"][0]["rx"]) / (b["uptime_secs"] - a["uptime_secs"])
         for a, b in zip(p, p[1:])][1:]
final = s[-1]
passes = final["ports"][0]["rx"] / frames
alerts = final.get("engine", {}).get("alerts", 0)
print(f"{statistics.median(rates) / 1e6:.3f} {alerts / passes:.1f}")
PY
}

# Suricata --dpdk: one worker on the worker core, IDS; rate over the span of its stats
# (its counters reach the stats in steps, so the rate is taken between the first and last
# change), alerts per pass from detect.alert.
run_suricata() {
  local rules=$1 dir="$work/suricata"
  rm -rf "$dir"; mkdir -p "$dir"
  python3 - "$dir" "$rules" "$vdev" "$MAIN_CORE" "$WORKER_CORE" "$MBUFS" "${EAL_MB:-2048}" <<'PY'
import sys, yaml
d, rules, vdev, main, worker, mbufs, mb = sys.argv[1:]
c = yaml.safe_load(open("/etc/suricata/suricata.yaml"))
iface = {"threads": 1, "promisc": True, "multicast": True, "checksum-checks": False,
         "checksum-checks-offload": False, "mtu": 1500, "mempool-size": int(mbufs),
         "mempool-cache-size": 511, "rx-descriptors": 1024, "tx-descriptors": 1024,
         "copy-mode": "none", "copy-iface": "none"}
c["dpdk"] = {
    "eal-params": {"proc-type": "primary", "no-huge": None, "m": int(mb), "no-pci": None,
                   "no-shconf": None, "no-telemetry": None, "vdev": [vdev]},
    "interfaces": [dict(iface, interface="net_pcap_mix"), dict(iface, interface="default")],
}
c["threading"] = {"set-cpu-affinity": True, "detect-thread-ratio": 1.0, "cpu-affinity": [
    {"management-cpu-set": {"cpu": [int(main)]}},
    {"worker-cpu-set": {"cpu": [int(worker)], "mode": "exclusive", "prio": {"default": "high"}}}]}
tcp = c["flow-timeouts"]["tcp"]
tcp["closed"] = 0
tcp["emergency-closed"] = 0
c["default-rule-path"] = d
c["rule-files"] = [rules]
c["stats"] = {"enabled": True, "interval": 1}
c["outputs"] = [{"eve-log": {"enabled": True, "filetype": "regular", "filename": "eve.json",
                 "types": [{"stats": {"totals": True, "threads": False, "deltas": False}}]}}]
c["logging"] = {"default-log-level": "notice", "outputs": [{"console": {"enabled": True}}]}
open(f"{d}/suricata.yaml", "w").write("%YAML 1.1\n---\n" + yaml.safe_dump(c, sort_keys=False))
PY
  suricata -c "$dir/suricata.yaml" --dpdk -l "$dir" -k none >"$dir/stdout" 2>&1 &
  measure $! "$dir/stdout" "Engine started" INT
  python3 - "$dir/eve.json" "$frames" <<'PY'
import json, sys
frames = int(sys.argv[2])
st = [json.loads(l)["stats"] for l in open(sys.argv[1]) if '"event_type":"stats"' in l]
pts = [(s["uptime"], s["capture"]["packets"], s["detect"]["alert"]) for s in st]
# The first and the last sample at which the packet count had just changed.
changes = [b for a, b in zip(pts, pts[1:]) if b[1] != a[1]]
(t0, p0, _), (t1, p1, _) = changes[0], changes[-1]
passes = pts[-1][1] / frames
print(f"{(p1 - p0) / (t1 - t0) / 1e6:.3f} {pts[-1][2] / passes:.1f}")
PY
}

echo "capture: $SESSIONS sessions of the realistic mix, $frames frames; $SECS s per run; worker core $WORKER_CORE"
for r in $RULESETS; do
  echo "$r: $(grep -c '^alert\|^drop\|^reject\|^pass' "$work/$r.rules" || true) rule lines"
done
printf '%-6s %-10s %-9s %8s %12s\n' round ruleset engine Mpps alerts/pass
for round in $(seq 1 "$ROUNDS"); do
  read -r rate _ < <(run_testpmd)
  printf '%-6s %-10s %-9s %8s %12s\n' "$round" - testpmd "$rate" -
  echo "$round - testpmd $rate -" >> "$results"
  for r in $RULESETS; do
    for engine in sensor suricata; do
      read -r rate alerts < <("run_$engine" "$work/$r.rules")
      printf '%-6s %-10s %-9s %8s %12s\n' "$round" "$r" "$engine" "$rate" "$alerts"
      echo "$round $r $engine $rate $alerts" >> "$results"
    done
  done
done

python3 - "$results" <<'PY'
import collections, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = collections.defaultdict(list)
ratio = collections.defaultdict(list)
for rnd, rs, eng, rate, alerts in rows:
    by[(rs, eng)].append(float(rate))
rounds = sorted({r[0] for r in rows})
for rnd in rounds:
    here = {(r[1], r[2]): float(r[3]) for r in rows if r[0] == rnd}
    for (rs, eng), v in here.items():
        if eng == "sensor" and (rs, "suricata") in here:
            ratio[rs].append(v / here[(rs, "suricata")])
print("\nmin / median / max over rounds (Mpps per core; sensor / suricata from the same round)")
for key, v in by.items():
    print(f"  {key[0]:10} {key[1]:9} {min(v):.3f} / {statistics.median(v):.3f} / {max(v):.3f}")
for rs, v in ratio.items():
    print(f"  {rs:10} sensor/suricata {min(v):.2f} / {statistics.median(v):.2f} / {max(v):.2f}")
PY
