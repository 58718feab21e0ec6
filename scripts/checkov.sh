#!/usr/bin/env bash
# checkov over the offline plans (cdktf.out/plan-*.json from scripts/terraform-check.sh) or, when
# there are none, over the synthesized cdk.tf.json files. Every skip lives in .checkov.yaml with
# its reason. Exits non-zero on any failed check.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${CDKTF_OUT:-cdktf.out}
VENV=.venv

# checkov in a project virtualenv, (re)installed when requirements-checkov.txt changes.
stamp="$VENV/.checkov-requirements"
if [ ! -x "$VENV/bin/checkov" ] || ! cmp -s requirements-checkov.txt "$stamp"; then
  echo "==> installing checkov into $VENV ($(grep -v '^#' requirements-checkov.txt | tr '\n' ' '))"
  start=$(date +%s)
  python3 -m venv "$VENV"
  if ! { "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-checkov.txt >"$VENV/install.log" 2>&1; }; then
    tail -30 "$VENV/install.log"; echo "checkov install failed" >&2; exit 1
  fi
  cp requirements-checkov.txt "$stamp"
  echo "checkov installed in $(( $(date +%s) - start ))s"
fi

shopt -s nullglob
plans=("$OUT"/plan-*.json)
args=()
if [ ${#plans[@]} -gt 0 ]; then
  for p in "${plans[@]}"; do args+=(-f "$p"); done
  args+=(--framework terraform_plan)
  echo "==> checkov over ${#plans[@]} plan(s): ${plans[*]}"
else
  # checkov's terraform_json parser crashes on terraform.required_version (checkov issue 7454):
  # scan copies without it.
  scan=$(mktemp -d "${TMPDIR:-/tmp}/checkov.XXXXXX")
  trap 'rm -rf "$scan"' EXIT
  for f in "$OUT"/stacks/*/cdk.tf.json; do
    name=$(basename "$(dirname "$f")")
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.get("terraform",{}).pop("required_version",None); json.dump(d,open(sys.argv[2],"w"))' "$f" "$scan/$name.tf.json"
    args+=(-f "$scan/$name.tf.json")
  done
  [ ${#args[@]} -gt 0 ] || { echo "nothing to scan: run npx cdktf synth first" >&2; exit 1; }
  args+=(--framework terraform_json)
  # Scanning the JSON, checkov also reads the aws_iam_policy_document data sources as identity
  # policies (CKV_AWS_109/111/356); ours that fail are KMS key policies, where Resource "*" means
  # "this key" and is what KMS requires. The plan scan does not see them that way. These extra skips
  # apply to this fallback only (a CLI --skip-check replaces the config file's list, so join both).
  json_only_skips=CKV_AWS_109,CKV_AWS_111,CKV_AWS_356
  config_skips=$("$VENV/bin/python" -c 'import sys,yaml; print(",".join(yaml.safe_load(open(sys.argv[1])).get("skip-check") or []))' .checkov.yaml)
  args+=(--skip-check "${config_skips:+$config_skips,}$json_only_skips")
  echo "==> checkov over synthesized JSON (no plan files: terraform-check was skipped); also skipping $json_only_skips (see comment above)"
fi

report=$(mktemp -d "${TMPDIR:-/tmp}/checkov-report.XXXXXX")
set +e
"$VENV/bin/checkov" "${args[@]}" --config-file .checkov.yaml --compact --quiet \
  --skip-download --output cli --output json --output-file-path "console,$report/results_json.json" 2>"$report/stderr.log"
rc=$?
set -e
if [ ! -f "$report/results_json.json" ]; then
  cat "$report/stderr.log"; echo "checkov produced no report" >&2; rm -rf "$report"; exit 1
fi
JSON_ONLY_SKIPS=${json_only_skips:-} "$VENV/bin/python" - "$report/results_json.json" .checkov.yaml <<'PY'
import json, os, sys, yaml
data = json.load(open(sys.argv[1]))
skips = yaml.safe_load(open(sys.argv[2])).get('skip-check') or []
skips += [s for s in os.environ.get('JSON_ONLY_SKIPS', '').split(',') if s]
data = data if isinstance(data, list) else [data]
totals = {k: sum(d.get('summary', {}).get(k, 0) for d in data) for k in ('passed', 'failed', 'skipped')}
print(f"checkov: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped'] + len(skips)} skipped "
      f"(checks skipped with reasons in .checkov.yaml / scripts/checkov.sh: {', '.join(skips) or 'none'})")
PY
rm -rf "$report"
exit $rc
