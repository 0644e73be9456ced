#!/usr/bin/env bash
# Fuzzes every target for a bounded time (default 60 s each):
#   scripts/fuzz.sh [SECONDS]
# Targets (tests/integration/fuzz.rs): ingest (shape detection and every
# reader on arbitrary and mutated bytes), la_response (Log Analytics query
# API responses), description (denial-description and pasted-message
# parsers), jwt (the token decoder; errors must not echo the token).
# A failure is shrunk, saved under tests/fuzz-regressions/<target>/ and
# replayed by every later `cargo test`. Exit 0 means every target ran clean.
set -euo pipefail
cd "$(dirname "$0")/.."
export KVAUDIT_FUZZ_SECONDS="${1:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kvaudit-target}"
cargo test --test integration fuzz:: -- --nocapture --test-threads 1 2>&1 \
  | grep -E '^fuzz |^test |test result|panicked|saved as'
