#!/usr/bin/env bash
# Chaos figures: per scenario, success rate, p99 latency and upstream requests per client
# request, plus the fast-fail latency with the circuit open. The scenarios and their
# assertions live in tests/chaos.rs; this runs its `figures` measurement in release mode.
# Loopback only; every scenario is bounded and stops by itself (about 30 s in all).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test chaos -- --ignored --nocapture --test-threads=1 figures
