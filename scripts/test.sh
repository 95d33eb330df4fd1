#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): system packages,
# formatting, lints, unit tests, and end-to-end tests that run the real sensor binary on
# DPDK virtual devices and in network namespaces (root required; such tests fail, never
# skip, without it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
