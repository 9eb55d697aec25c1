#!/usr/bin/env bash
# Runs the README's two new-machine commands in a fresh clone of HEAD, inside a private (0700)
# temp folder, the way CI and a new user would meet the project. Usage: scripts/fresh-clone-check.sh [bench args…]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/seatlab"
cd "$work/seatlab"
echo "== npm ci" >&2
npm ci --no-audit --no-fund >/dev/null
echo "== npx bench run ${*:---strategy all --scenario flash-sale}" >&2
start=$(date +%s)
if [ "$#" -gt 0 ]; then npx bench run "$@"; else npx bench run --strategy all --scenario flash-sale; fi
echo "== main job took $(( $(date +%s) - start )) s" >&2
echo "== npm test" >&2
npm test
