#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): system packages,
# formatting, lints, unit tests, and end-to-end tests that run the real sensor binary on
# DPDK virtual devices and in network namespaces (root required; such tests fail, never
# skip, without it), then each fuzz target for a bounded time (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python3 scripts/check-layout.py
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
FUZZ_SECS=${FUZZ_SECS:-30} scripts/fuzz.sh
