#!/usr/bin/env bash
# Throughput benchmark (not a test): the sensor in prevention mode on one worker core,
# net_pcap (infinite_rx=1, a generated mix) -> net_null, and beside it in the same round
# dpdk-testpmd --forward-mode=io on the same devices. Each round measures testpmd, then
# the sensor in each CASE:
#   passall  the pass-all policy (the datapath alone)
#   engine   the detection engine with no rules (decode and the flow table: with no rules
#            nothing reads payload)
#   etopen   the engine with every loadable ET Open rule (../shared/data/et-open)
#   baseline the engine with no rules and per-host baselines on (every host of the mix
#            profiled; compare with `engine` in the same round)
#   hosts    not a rate: replays 10,000 and 100,000 hosts (a lookup and a connection
#            each) with baselines on and prints profile memory per host and peak RSS
#   dns1k    DNS-only traffic (queries and answers, 10% of names listed) with ET Open's
#            `alert dns` rules and a domain list of 1,000 names (the listed ones)
#   dns1m    the same with a list of 1,000,000 names (those 1,000 plus 999,000 others)
#   reload   the etopen case plus the 1,000,000-name list and a control socket: SECS
#            seconds without reloads, then SECS seconds of back-to-back reloads (sensor
#            ctl reload), alternately "changed" (an update: two new rules, in the largest
#            payload and http.uri groups, and one more listed name, so those matchers and
#            the whole list are rebuilt) and "same" (files unchanged); prints the reload
#            times of each kind and the forwarded rate in each window
# The dns cases run beside testpmd on the DNS capture. Prints Mpps (received) and the ratio
# to testpmd for each; for etopen also rule compile time and memory (sensor check-rules
# --json), for the dns cases list load time, memory per name and lookup cost (sensor
# check-lists --json). Machines are shared and noisy: compare ratios taken in the same
# round, and run several rounds.
#
# WORKERS (a list, default "1") runs every case with N workers on cores WORKER_CORE..
# WORKER_CORE+N-1, each serving one rx queue (net_pcap reads the capture once per queue)
# and testpmd with as many forwarding cores and queues: how the rate scales with cores.
#
#   scripts/bench.sh                     defaults below
#   CASES="passall engine etopen dns1k dns1m" PACKETS=100000 FLOWS=20000 SECS=10 ROUNDS=3 scripts/bench.sh
#   WORKERS="1 2 4 8" CASES="engine etopen" scripts/bench.sh
#   MIX=realistic SESSIONS=4000 CASES="passall engine etopen" scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PACKETS=${PACKETS:-100000}
FLOWS=${FLOWS:-20000}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
WORKER_CORE=${WORKER_CORE:-1}
MAIN_CORE=${MAIN_CORE:-0}
MBUFS=${MBUFS:-262143}
WORKERS=${WORKERS:-1}
N=1
CASES=${CASES:-passall engine etopen}
# random: the generated mix (random payloads on flows without handshakes, PACKETS over
# FLOWS); realistic: SESSIONS whole sessions of testkit::realistic (BENCHMARKS.md).
MIX=${MIX:-random}
SESSIONS=${SESSIONS:-4000}
ET_OPEN=${ET_OPEN:-$(cd .. && pwd)/shared/data/et-open}
DATA=${DATA:-$(cd .. && pwd)/shared/data}
work=${BENCH_DIR:-/tmp/sensor-bench}
mkdir -p "$work"

[ "${SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --locked -q -p sensor -p testkit
if [ "$MIX" = realistic ]; then
  # Whole sessions (testkit::realistic): HTTP with real header sets and bodies (chunked,
  # gzip), TLS with SNI, DNS pairs, other UDP, ICMP.
  mix="$work/realistic-$SESSIONS.pcap"
  [ -f "$mix" ] || target/release/gen-pcap realistic "$SESSIONS" "$mix" 1
  PACKETS=$(python3 scripts/count-frames.py "$mix")
  FLOWS="$SESSIONS sessions"
else
  mix="$work/mix-$PACKETS-$FLOWS.pcap"
  [ -f "$mix" ] || target/release/gen-pcap mix "$PACKETS" "$FLOWS" "$mix" 1
fi
avg=$(( $(stat -c %s "$mix") / PACKETS - 16 ))

# DNS traffic: names from the benign top-10k, 10% from a DGA family (the listed names).
dnsmix="$work/dns-$PACKETS.pcap"
listed="$DATA/domains/dga/conficker_1000.txt"
[ -f "$dnsmix" ] || target/release/gen-pcap dns "$PACKETS" "$DATA/domains/benign-opendns-top-10k.txt" "$listed" 10 "$dnsmix" 1
list1k="$work/list-1k.txt"
list1m="$work/list-1m.txt"
cp "$listed" "$list1k"
[ -f "$list1m" ] || { cat "$listed"; awk 'BEGIN { for (i = 0; i < 999000; i++) printf "n%d-%x.blocklist%d.example\n", i, i * 7919, i % 977 }'; } > "$list1m"
grep -h '^alert dns' "$ET_OPEN"/*.rules > "$work/et-dns.rules"

eal_common=(--no-huge -m "${EAL_MB:-2048}" --no-pci --no-shconf --no-telemetry --log-level=lib.eal:warning)
# N rx queues on the capture (one rx_pcap each), N tx queues on the sink.
vdevs_for() {
  local rx="" i
  for i in $(seq 1 "$N"); do rx="$rx,rx_pcap=$1"; done
  echo "--vdev net_pcap_mix${rx},infinite_rx=1 --vdev net_null_sink,no-rx=1"
}
# Worker cores for N workers, and mbufs enough for N copies of the capture.
worker_cores() { seq -s, "$WORKER_CORE" "$((WORKER_CORE + N - 1))"; }
mbufs() { echo $((MBUFS + (N - 1) * (PACKETS + 16384))); }

# Both sides are measured the same way: one rate sample per second from the program's own
# periodic stats, the first two dropped (warm-up), the median kept.
testpmd_mpps() {
  local log="$work/testpmd.log"
  # shellcheck disable=SC2046
  local lcores="0@$MAIN_CORE" i
  for i in $(seq 1 "$N"); do lcores="$lcores,$i@$((WORKER_CORE + i - 1))"; done
  timeout -s INT "$((SECS + 6 + N))" dpdk-testpmd "${eal_common[@]}" --lcores="$lcores" \
    $(vdevs_for "$1") -- --forward-mode=io --nb-cores="$N" --rxq="$N" --txq="$N" \
    --total-num-mbufs="$(mbufs)" --burst=32 --stats-period=1 >"$log" 2>&1 || true
  python3 - "$log" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
# Per period, the "Tx-pps" of port 1 (net_null) is the forwarded rate.
blocks = re.findall(r"NIC statistics for port 1.*?Tx-pps:\s+(\d+)", text, re.S)
rates = [int(x) for x in blocks][2:]
print(f"{statistics.median(rates) / 1e6:.3f}")
PY
}

sensor_mpps() {
  local case=$1 config="$work/sensor.toml" out="$work/sensor.json" rules="" list="" pcap=$mix
  case "$case" in
    passall) rules="" ;;
    reload)
      # A live copy that the reloads update: ET Open's files plus an update file, and
      # the 1,000,000-name list.
      rm -rf "$work/et-live"; mkdir -p "$work/et-live"
      ln -s "$ET_OPEN"/*.rules "$work/et-live/"
      : > "$work/et-live/zz-update.rules"
      cp "$list1m" "$work/list-live.txt"
      rules="$work/et-live"; list="$work/list-live.txt" ;;
    engine|baseline) : > "$work/empty.rules"; rules="$work/empty.rules" ;;
    etopen) rules="$ET_OPEN" ;;
    dns1k) rules="$work/et-dns.rules"; list=$list1k; pcap=$dnsmix ;;
    dns1m) rules="$work/et-dns.rules"; list=$list1m; pcap=$dnsmix ;;
  esac
  # shellcheck disable=SC2046
  python3 - "$config" "$MAIN_CORE" "$(worker_cores)" "$(mbufs)" "$rules" "$list" "$N" "${eal_common[@]}" $(vdevs_for "$pcap") <<'PY'
import json, sys
path, main, worker, mbufs, rules, listfile, queues, *eal = sys.argv[1:]
eal = eal + [f"--lcores=0@{main}"]
open(path, "w").write(f"""mode = "prevention"
stats_interval_secs = 1
[eal]
args = {json.dumps(eal)}
[ports]
bridge = [["net_pcap_mix", "net_null_sink"]]
queues = {queues}
[workers]
cores = [{worker}]
burst_size = 32
[mempool]
size = {mbufs}
[detect]
rules = {json.dumps([rules] if rules else [])}
""" + (f"""[lists.bench]
path = {json.dumps(listfile)}
""" if listfile else "") + f"""[control]
socket = {json.dumps(path + ".sock")}
""")
PY
  if [ "$case" = baseline ]; then
    printf '[baseline]\nenabled = true\nhosts = "[10.0.0.0/8,fd00::/8]"\nlearning_secs = 5\n' >> "$config"
  fi
  if [ "$case" = reload ]; then
    reload_run "$config" "$out"
    return
  fi
  target/release/sensor run --config "$config" >"$out" 2>"$work/sensor.err" &
  local pid=$!
  # Rule compilation happens before the ports start; the rate samples start after it.
  sleep "$((SECS + 3 + N / 4 + $([ "$case" = etopen ] && echo 3 || echo 0) + $([ "$case" = dns1m ] && echo 2 || echo 0)))"
  kill -TERM "$pid"
  wait "$pid"
  python3 - "$out" <<'PY'
import json, statistics, sys
s = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
periodic = [x for x in s if not x["final"]]
rates = [(b["ports"][0]["rx"] - a["ports"][0]["rx"]) / (b["uptime_secs"] - a["uptime_secs"])
         for a, b in zip(periodic, periodic[1:])][1:]
cycles = statistics.mean(w["busy_cycles_per_packet"] for w in s[-1]["workers"])
print(f"{statistics.median(rates) / 1e6:.3f} {cycles:.1f}")
PY
}

# The reload case: rates without and with reloads, from the 1 s stats lines.
reload_run() {
  local config=$1 out=$2 sock="$1.sock" ctl=target/release/sensor
  target/release/sensor run --config "$config" >"$out" 2>"$work/sensor.err" &
  local pid=$!
  until [ -S "$sock" ] && "$ctl" ctl --socket "$sock" --json status >/dev/null 2>&1; do sleep 0.5; done
  sleep 4
  local t0 t1 t2
  t0=$("$ctl" ctl --socket "$sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["uptime_secs"])')
  sleep "$SECS"
  t1=$("$ctl" ctl --socket "$sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["uptime_secs"])')
  : > "$work/reloads.json"
  : > "$work/reloads.wall"
  local end=$((SECONDS + SECS)) n=0
  while [ "$SECONDS" -lt "$end" ]; do
    local a b kind=same
    n=$((n + 1))
    if [ $((n % 2)) = 1 ]; then
      kind=changed
      printf 'alert http any any -> any any (msg:"update %d"; http.uri; content:"/update-%d/"; sid:%d;)\nalert tcp any any -> any any (msg:"update %d"; content:"update-payload-%d"; sid:%d;)\n' \
        "$n" "$n" "$((9100000 + n))" "$n" "$n" "$((9150000 + n))" > "$work/et-live/zz-update.rules"
      echo "update-$n.example" >> "$work/list-live.txt"
    fi
    a=$(date +%s.%N)
    "$ctl" ctl --socket "$sock" --json reload >> "$work/reloads.json" || true
    b=$(date +%s.%N)
    python3 -c "print('$kind', $b - $a)" >> "$work/reloads.wall"
  done
  t2=$("$ctl" ctl --socket "$sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["uptime_secs"])')
  kill -TERM "$pid"; wait "$pid"
  python3 - "$out" "$t0" "$t1" "$t2" "$work/reloads.json" "$work/reloads.wall" <<'PY'
import json, statistics, sys
out, t0, t1, t2, replies, walls = sys.argv[1], *map(float, sys.argv[2:5]), sys.argv[5], sys.argv[6]
s = [json.loads(l) for l in open(out) if l.startswith("{")]
p = [x for x in s if not x["final"]]
def rates(lo, hi):
    return [(b["ports"][1]["tx"] - a["ports"][1]["tx"]) / (b["uptime_secs"] - a["uptime_secs"])
            for a, b in zip(p, p[1:]) if a["uptime_secs"] >= lo and b["uptime_secs"] <= hi]
quiet, busy = rates(t0, t1), rates(t1, t2)
r = [json.loads(l) for l in open(replies)]
w = [l.split() for l in open(walls)]
print(f"reloads: {sum(1 for x in r if x.get('ok'))} ok of {len(r)}")
for kind in ("changed", "same"):
    ms = [x["compile_ms"] for x, (k, _) in zip(r, w) if k == kind and x.get("ok")]
    wall = [float(t) for k, t in w if k == kind]
    if ms:
        print(f"  {kind:7}: {len(ms)} reloads; compile {min(ms):.0f}-{max(ms):.0f} ms (median {statistics.median(ms):.0f}); "
              f"wall per reload (request to reply) median {statistics.median(wall):.2f} s")
print(f"forwarded Mpps without reloads: median {statistics.median(quiet)/1e6:.3f} (min {min(quiet)/1e6:.3f}); "
      f"during reloads: median {statistics.median(busy)/1e6:.3f} (min {min(busy)/1e6:.3f}); "
      f"imissed {s[-1]['ports'][0]['imissed']}")
PY
  rm -f "$work/reloads.wall"
}

echo "mix: $PACKETS packets, $FLOWS flows, ~$avg bytes average frame; $SECS s per run; workers $WORKERS from core $WORKER_CORE"
case " $CASES " in *" etopen "*)
  target/release/sensor check-rules --json "$ET_OPEN" > "$work/check.json" || true
  python3 - "$work/check.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
print(f"ET Open: {c['loaded']} rules loaded, {c['rejected']} rejected; compile {c['compile_ms']:.0f} ms, {c['memory_kib'] / 1024:.0f} MiB")
PY
esac
case " $CASES " in *" dns1"*)
  echo "DNS: $PACKETS packets ($(( $(stat -c %s "$dnsmix") / PACKETS - 16 )) bytes average), 10% of names listed; $(wc -l < "$work/et-dns.rules") ET Open dns rules"
  for l in "$list1k" "$list1m"; do
    target/release/sensor check-lists --json "$l" > "$work/lists.json" || true
    python3 - "$work/lists.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
print(f"list of {c['entries']} names: load {c['load_ms']:.0f} ms, {c['bytes_per_name']:.1f} bytes per name, lookup {c['lookup_hit_ns']:.0f} ns (hit) {c['lookup_miss_ns']:.0f} ns (miss)")
PY
  done
esac
case " $CASES " in *" hosts "*)
  for n in 10000 100000; do
    [ -f "$work/hosts-$n.pcap" ] || target/release/gen-pcap hosts "$n" "$work/hosts-$n.pcap"
    python3 - "$n" "$work/hosts-$n.pcap" <<'PY'
import json, resource, subprocess, sys
n, pcap = sys.argv[1:]
p = subprocess.run(["target/release/sensor", "replay", "--pcap", pcap, "--set", "baseline.enabled=true"],
                   capture_output=True, text=True, check=True)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
b = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")][-1]["engine"]["baseline"]
print(f"baseline, {int(n):,} hosts: {b['hosts']:,} profiled, {b['profile_bytes'] / b['hosts']:.0f} bytes per host, "
      f"{b['profile_bytes'] / 2**20:.0f} MiB of profiles, peak RSS of the sensor {rss:.0f} MiB")
PY
  done
esac
printf "%-6s %-7s %-8s %14s %14s %8s %18s\n" round workers case testpmd_Mpps sensor_Mpps ratio sensor_cycles/pkt
for r in $(seq 1 "$ROUNDS"); do
 for N in $WORKERS; do
  t=$(testpmd_mpps "$mix")
  td=""
  for c in $CASES; do
    [ "$c" = hosts ] && continue
    base=$t
    case "$c" in dns*) [ -n "$td" ] || td=$(testpmd_mpps "$dnsmix"); base=$td ;; esac
    if [ "$c" = reload ]; then
      echo "round $r reload (ET Open + 1,000,000 listed names, $N workers):"
      sensor_mpps reload
      continue
    fi
    read -r s cycles < <(sensor_mpps "$c")
    ratio=$(python3 -c "print(f'{$s / $base:.3f}')")
    printf "%-6s %-7s %-8s %14s %14s %8s %18s\n" "$r" "$N" "$c" "$base" "$s" "$ratio" "$cycles"
  done
 done
done
