#!/usr/bin/env bash
# Runs the evasion corpus (`gen-pcap evasion`: IP fragments, reordered and overlapping TCP
# segments, split/chunked/gzip HTTP bodies, encoded URIs, split header blocks; see
# testkit/src/evasion.rs) and the suricata-verify cases of ../shared/data/suricata-verify
# that the sensor reads (defrag, HTTP) through Suricata 7 (`suricata -k none -r X.pcap -S
# X.rules`) and the sensor in detection, and prints each capture's alerts by sid for
# both, marking differences. Needs suricata (bookworm-backports); not part of the test
# suite (tests/evasion.rs holds the agreed results).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DATA:-$root/../shared/data}
work=${WORK:-$(mktemp -d)}
command -v suricata >/dev/null || { echo "suricata is not installed" >&2; exit 2; }
cd "$root" && cargo build --release -q -p sensor -p testkit
"$root/target/release/gen-pcap" evasion "$work/corpus"
sids() {
  python3 - "$1" <<'PY'
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event_type") == "alert":
        c[e["alert"]["signature_id"]] += 1
print(" ".join(f"{k}x{v}" for k, v in sorted(c.items())) or "-")
PY
}
compare() {
  local name=$1 pcap=$2 rules=$3
  shift 3
  rm -rf "$work/suri" && mkdir -p "$work/suri"
  suricata -k none --runmode single -r "$pcap" -S "$rules" -l "$work/suri" "${@:2}" >/dev/null 2>&1 || true
  touch "$work/suri/eve.json"
  local sensor_set=()
  [ -n "$1" ] && sensor_set=(--set "$1")
  "$root/target/release/sensor" replay --pcap "$pcap" --rules "$rules" --eve "$work/sensor.json" \
    "${sensor_set[@]}" >/dev/null 2>&1
  local s o
  s=$(sids "$work/suri/eve.json"); o=$(sids "$work/sensor.json")
  printf '%s: %s\n  suricata %s\n  sensor   %s\n' "$name" "$([ "$s" = "$o" ] && echo same || echo DIFFERS)" "$s" "$o"
}
for p in "$work"/corpus/*.pcap; do
  compare "$(basename "$p" .pcap)" "$p" "$work/corpus/evasion.rules" ""
done
sv=$data/suricata-verify
for c in defrag_bug-6887-defrag-ipv4-tcp-syn defrag_bug-6887-defrag-ipv6-tcp; do
  compare "$c" "$(ls "$sv/$c"/*.pcap)" "$sv/$c/test.rules" ""
done
# The case's own arguments (its test.yaml): 23 alerts on one packet, past Suricata's
# default packet-alert-max of 15.
compare http-chunked "$sv/http-chunked/input.pcap" "$sv/http-chunked/test.rules" "" \
  --set packet-alert-max=32
compare http-body-inspect "$sv/http-body-inspect/http-aptget-ids-02-s2.pcap" \
  "$sv/http-body-inspect/test.rules" "http.response_body_limit=1048576" \
  --set app-layer.protocols.http.libhtp.default-config.response-body-limit=1mb
# Action precedence: a pass and a drop rule on the request's packet, an alert rule on the
# server's later packets. Suricata in its inline stream mode, which inspects each segment
# as it comes as the sensor does (its IDS mode inspects the request's stream when the
# server acknowledges it, so an alert on that acknowledgement comes before the pass).
cat > "$work/precedence.rules" <<'RULES'
drop tcp any any -> any 80 (msg:"drop get"; content:"GET"; sid:101;)
pass tcp any any -> any 80 (msg:"pass host"; content:"Host"; sid:102;)
alert tcp any 80 -> any any (msg:"later packet of the flow"; flow:established; sid:103;)
alert http any any -> any any (msg:"http uri"; http.uri; content:"/"; sid:104;)
RULES
compare precedence-inline "$work/corpus/uri-percent.pcap" "$work/precedence.rules" "" \
  --set stream.inline=true
