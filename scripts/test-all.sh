#!/usr/bin/env bash
# The README's test command (`npm test`): every check, in order of cost. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
mkdir -p .tmp
export TMPDIR="$PWD/.tmp"   # cdktf Testing leaves cdktf.outdir.* dirs in TMPDIR

echo "==> typecheck (tsc --noEmit)"
npx tsc --noEmit -p tsconfig.json

echo "==> jest (unit, construct and integration tests)"
npx jest --ci "$@"

echo "==> synth"
npx cdktf synth --output cdktf.out >/dev/null
echo "synthesized: $(ls cdktf.out/stacks | tr '\n' ' ')"

echo "==> terraform validate + offline plan"
bash scripts/terraform-check.sh

echo "==> checkov"
bash scripts/checkov.sh
