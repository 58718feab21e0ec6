#!/usr/bin/env bash
# terraform validate of every synthesized stack, and an offline terraform plan (dummy credentials,
# local backend, -refresh=false) of each, with the plan saved as JSON for checkov.
# Needs: cdktf.out from `npx cdktf synth`, terraform on PATH, the hashicorp/aws provider in a
# filesystem mirror (/opt/tf-plugins or $TF_PLUGIN_MIRROR). Without those it prints SKIPPED loudly
# and exits 0; any validate or plan failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${CDKTF_OUT:-cdktf.out}
MIRROR=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
# Dummy values that satisfy the stacks' variable validations; nothing reaches AWS.
PLAN_ACCOUNT_ID=123456789012

skip() {
  echo "################################################################"
  echo "## SKIPPED: terraform validate/plan ($1)"
  echo "################################################################"
  exit 0
}

[ -f "$OUT/manifest.json" ] || { echo "no $OUT/manifest.json: run npx cdktf synth first" >&2; exit 1; }
# Plans from an earlier run (another environment, say) must not reach checkov.
rm -f "$OUT"/plan-*.json
command -v terraform >/dev/null 2>&1 || skip "terraform is not on PATH"
[ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ] || skip "no hashicorp/aws provider mirror at $MIRROR (set TF_PLUGIN_MIRROR)"

work=$(mktemp -d "${TMPDIR:-/tmp}/tfcheck.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/cli.tfrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
RC
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" TF_IN_AUTOMATION=1 TF_INPUT=0
export TF_PLUGIN_CACHE_DIR="$work/plugin-cache"
mkdir -p "$TF_PLUGIN_CACHE_DIR"
# Dummy credentials from the environment (not in the plan, where checkov would flag them); any real
# credentials are kept out of the offline plan.
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_ACCESS_KEY_ID=AKIAOFFLINEPLAN00000 AWS_SECRET_ACCESS_KEY=offline-plan-dummy-secret
export AWS_EC2_METADATA_DISABLED=true

failures=0
stacks=$(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["stacks"]))' "$OUT/manifest.json")
for stack in $stacks; do
  dir="$OUT/stacks/$stack"
  echo "==> $stack"
  tmp="$work/$stack"
  mkdir -p "$tmp"
  cp "$dir/cdk.tf.json" "$tmp/"

  # validate: the synthesized stack as is, backend not initialised
  if ! (cd "$tmp" && terraform init -backend=false -no-color >init.log 2>&1); then
    cat "$tmp/init.log"; echo "FAIL: terraform init ($stack)"; failures=$((failures + 1)); continue
  fi
  if ! (cd "$tmp" && terraform validate -no-color); then
    echo "FAIL: terraform validate ($stack)"; failures=$((failures + 1)); continue
  fi

  # plan: local backend, no AWS calls (override files: Terraform merges *_override.tf.json). Without a
  # caller-identity lookup the provider cannot check allowed_account_ids, so the plan lifts that guard.
  cat > "$tmp/backend_override.tf.json" <<JSON
{ "terraform": { "backend": { "local": { "path": "plan.tfstate" } } } }
JSON
  cat > "$tmp/provider_override.tf.json" <<JSON
{ "provider": { "aws": [{
  "skip_credentials_validation": true, "skip_requesting_account_id": true,
  "skip_metadata_api_check": "true",
  "allowed_account_ids": null
} ] } }
JSON
  vars=()
  if grep -q '"account_id"' "$tmp/cdk.tf.json"; then vars+=(-var "account_id=$PLAN_ACCOUNT_ID"); fi
  if grep -q '"processor_image"' "$tmp/cdk.tf.json"; then
    region=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["provider"]["aws"][0]["region"])' "$tmp/cdk.tf.json")
    repo=$(python3 -c 'import json,sys,re; d=json.load(open(sys.argv[1])); m=re.search(r"/(vitals-processor-[a-z0-9]+)@", json.dumps(d["variable"]["processor_image"])); print(m.group(1))' "$tmp/cdk.tf.json")
    vars+=(-var "processor_image=$PLAN_ACCOUNT_ID.dkr.ecr.$region.amazonaws.com/$repo@sha256:$(printf '0%.0s' {1..64})")
  fi
  if grep -q '"hl7_certificate_arn"' "$tmp/cdk.tf.json"; then
    region=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["provider"]["aws"][0]["region"])' "$tmp/cdk.tf.json")
    vars+=(-var "hl7_certificate_arn=arn:aws:acm:$region:$PLAN_ACCOUNT_ID:certificate/00000000-0000-0000-0000-000000000000")
  fi
  if ! (cd "$tmp" && rm -rf .terraform/terraform.tfstate && terraform init -reconfigure -no-color >init-plan.log 2>&1); then
    cat "$tmp/init-plan.log"; echo "FAIL: terraform init for plan ($stack)"; failures=$((failures + 1)); continue
  fi
  if ! (cd "$tmp" && terraform plan -refresh=false -lock=false -no-color -out=plan.tfplan "${vars[@]}" >plan.log 2>&1); then
    cat "$tmp/plan.log"; echo "FAIL: terraform plan ($stack)"; failures=$((failures + 1)); continue
  fi
  (cd "$tmp" && terraform show -json plan.tfplan) > "$OUT/plan-$stack.json"
  count=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(sum(1 for r in p.get("resource_changes", []) if "create" in r["change"]["actions"]))' "$OUT/plan-$stack.json")
  echo "OK: $stack validates; offline plan: $count resources to create ($OUT/plan-$stack.json)"
done

if [ "$failures" -gt 0 ]; then
  echo "terraform-check: $failures stack(s) failed"
  exit 1
fi
echo "terraform-check: all stacks validate and plan offline"
