#!/usr/bin/env bash
# `npm start`: the whole pipeline on this machine, loopback only, state under .local/ (see
# docs/design.md and src/local/runner.ts). Options after `--`, e.g. `npm start -- --duration 60`;
# `npm start -- --help` lists them. Prints a live status on stderr and one final JSON line on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh >&2
echo "==> building (tsc -p tsconfig.build.json)" >&2
npx tsc -p tsconfig.build.json >&2
# exec: the runner's supervisor receives Ctrl-C directly and shuts everything down in order.
exec node dist/src/local/cli.js "$@"
