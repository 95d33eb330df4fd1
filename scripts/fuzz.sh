#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets: decode, rule_parser, engine, dns, control,
# config, reassembly, defrag, tls) for a bounded time; a crash fails the run and leaves the input under
# fuzz/artifacts/.
#
#   scripts/fuzz.sh                 FUZZ_SECS seconds per target (default 30)
#   FUZZ_SECS=600 scripts/fuzz.sh   a longer session
#
# The toolchain here is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags, and
# sanitizers are off (safe Rust; libFuzzer still finds panics and out-of-bounds slicing).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
FUZZ_SECS=${FUZZ_SECS:-30}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
for target in decode rule_parser engine dns control config reassembly defrag tls; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target for ${FUZZ_SECS}s" >&2
  log=$(mktemp)
  # A target that does not build, or stops before its time, fails the run as a crash does.
  if cargo fuzz run "$target" --sanitizer none "corpus/$target" -- \
    -max_total_time="$FUZZ_SECS" -print_final_stats=0 >"$log" 2>&1 &&
    grep -E "^Done" "$log"; then
    rm -f "$log"
    continue
  fi
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz: $target crashed; inputs in fuzz/artifacts/$target" >&2
  else
    echo "fuzz: $target did not run to its time limit; its output ends:" >&2
  fi
  tail -n 40 "$log" >&2
  exit 1
done
