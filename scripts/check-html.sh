#!/usr/bin/env bash
# Renders the HTML report of the three-weeks fixture in headless Chromium
# and saves a screenshot, to check the self-contained report really renders.
# Usage: scripts/check-html.sh [OUT.png]   (installs Debian's chromium if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/report.png}"
mkdir -p "$(dirname "$out")"
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium
fi
html="$(mktemp -d)/report.html"
cargo run --quiet -- report --format html fixtures/scenarios/s1-s9-three-weeks.jsonl -o "$html"
profile="$(mktemp -d)"
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" \
  --screenshot="$(realpath -m "$out")" --window-size=1280,1800 "file://$html" 2>/dev/null
test -s "$out"
echo "rendered $html to $out ($(stat -c %s "$out") bytes)"
