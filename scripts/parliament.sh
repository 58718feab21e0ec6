#!/usr/bin/env bash
# IAM linter: parliament (requirements-parliament.txt, in .venv-parliament) over every policy document
# of the synthesized stacks (identity, boundary, key, bucket and topic policies; references resolved by
# src/infra/policy-sim), the bootstrap synthesized with CI roles so theirs are linted too. A finding
# fails unless .parliament.yaml suppresses it with a reason. Last line: the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-parliament
WORK=${TMPDIR:-/tmp}/parliament
stamp="$VENV/.requirements"
if [ ! -x "$VENV/bin/parliament" ] || ! cmp -s requirements-parliament.txt "$stamp"; then
  echo "==> installing parliament into $VENV ($(grep -v '^#' requirements-parliament.txt | tr '\n' ' '))"
  python3 -m venv "$VENV"
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-parliament.txt >"$VENV/install.log" 2>&1; then
    tail -30 "$VENV/install.log"; echo "parliament install failed" >&2; exit 1
  fi
  cp requirements-parliament.txt "$stamp"
fi

rm -rf "$WORK" && mkdir -p "$WORK"
# The CI roles exist only with a repository set: synthesize once more with one (the names are examples).
CI_GITHUB_REPOSITORY=example-org/vitals-pipeline CI_ENVIRONMENTS=dev,prod npx cdktf synth --output "$WORK/synth" >"$WORK/synth.log" 2>&1 || { cat "$WORK/synth.log"; exit 1; }
npx ts-node --transpile-only src/infra/policy-sim/cli.ts export-policies "$WORK/synth/stacks" "$WORK/policies"

"$VENV/bin/python" - "$WORK/policies" .parliament.yaml <<'PY'
import os, re, sys, yaml
from parliament import analyze_policy_string
policies_dir, config_path = sys.argv[1], sys.argv[2]
config = yaml.safe_load(open(config_path))
excluded = [re.compile(e['files']) for e in config.get('exclude', [])]
suppressions = [(s['issue'], re.compile(s['files'])) for s in config.get('suppressions', [])]
used = set()
files = sorted(f for f in os.listdir(policies_dir) if f.endswith('.json') and not any(p.search(f) for p in excluded))
total = suppressed = 0
failures = []
for name in files:
    policy = analyze_policy_string(open(os.path.join(policies_dir, name)).read(), filepath=name)
    for finding in policy.findings:
        total += 1
        match = next((i for i, (issue, pattern) in enumerate(suppressions) if issue == finding.issue and pattern.search(name)), None)
        if match is None:
            failures.append(f"{name}: {finding.issue} {str(finding.detail)[:300]} line {finding.location.get('line')}")
        else:
            suppressed += 1
            used.add(match)
for f in failures:
    print(f"FINDING {f}")
for i, (issue, pattern) in enumerate(suppressions):
    if i not in used:
        print(f"unused suppression in {config_path}: {issue} {pattern.pattern} (remove it)")
print(f"parliament: {len(files)} policies, {total} findings, {suppressed} suppressed ({len(excluded)} file pattern(s) excluded; reasons in {config_path})")
sys.exit(1 if failures or len(used) < len(suppressions) else 0)
PY
