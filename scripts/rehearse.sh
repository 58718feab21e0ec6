#!/usr/bin/env bash
# Deploy rehearsal (`npm run rehearse`, also run by `npm test`): the project's own deploy sequence,
# applied, diffed, inspected and destroyed for real against an AWS API emulator on loopback.
#
#   1. moto server (requirements-rehearsal.txt, in .venv-rehearsal) on 127.0.0.1:<free port>, TLS with
#      a certificate made for this run, AWS managed policies loaded
#   2. scripts/deploy.sh --emulator: state-bootstrap, registry-<env>, the image (built locally by
#      scripts/image.sh, not pushed), pipeline-<env> on the real S3 backend + DynamoDB lock; the
#      migrate and verify steps are skipped (the emulator runs no containers)
#   3. while the pipeline applies: a concurrent plan must fail fast on the state lock
#   4. `npx cdktf diff pipeline-<env>`: no changes but the allowlisted emulator artifacts
#      (src/infra/emulator/allowlist.json, matched by resource type + attribute)
#   5. the README's operator path: terraform state list, terraform state show <a stream>
#   6. `npx cdktf destroy` of pipeline-<env> and registry-<env>: nothing left in state
#   7. cdktf.out/rehearsal/api-calls.json: every AWS API call of apply, diff and destroy
#   8. each of those calls evaluated against the synthesized CI deploy/diff roles (policy simulation)
#
# Emulator-only changes to the stacks live in src/infra/emulator (REHEARSAL_ENDPOINT); a real deploy
# never sees them. Without terraform, the provider mirror, python3 or openssl this prints SKIPPED in
# a banner and exits 0; any failed check exits non-zero. Last line: the summary.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
OUT=cdktf.out/rehearsal
MIRROR=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
VENV=.venv-rehearsal
ENV_NAME=${ENVIRONMENT:-dev}
REGION=${AWS_REGION:-eu-central-2}
ACCOUNT_ID=123456789012 # the emulator's account
BOOTSTRAP=state-bootstrap
REGISTRY="registry-$ENV_NAME"
PIPELINE="pipeline-$ENV_NAME"
STACKS="cdktf.out/stacks"
LOCK_WAIT_FAIL_FAST_SECONDS=60 # a plan that waits on the lock longer than this did not fail fast
helper() { npx ts-node --transpile-only src/rehearsal/cli.ts "$@"; }

log() { echo "==> rehearsal: $*"; }
die() {
  echo "rehearsal: FAILED: $*" >&2
  echo "rehearsal: FAILED: $*" >"$OUT/summary.txt" 2>/dev/null || true
  exit 1
}
skip() {
  echo "################################################################################"
  echo "## SKIPPED: deploy rehearsal ($1)"
  echo "################################################################################"
  mkdir -p "$OUT"
  echo "rehearsal: SKIPPED ($1)" >"$OUT/summary.txt"
  exit 0
}

# Seconds per phase, for the summary (what dominates the wall time).
declare -a PHASES=()
phase_started=$(date +%s)
phase_done() {
  local now
  now=$(date +%s)
  PHASES+=("$1 $((now - phase_started))s")
  phase_started=$now
}

rm -rf "$OUT"
mkdir -p "$OUT/tf-logs" "$OUT/tls"

# ---- prerequisites -----------------------------------------------------------------------------
command -v terraform >/dev/null 2>&1 || skip "terraform is not on PATH"
[ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ] || skip "no hashicorp/aws provider mirror at $MIRROR (set TF_PLUGIN_MIRROR)"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed (the emulator is a Python program)"
python3 -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null || skip "python3 >= 3.9 with the venv module is needed for the emulator"
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed (the emulator's TLS certificate)"

stamp="$VENV/.rehearsal-requirements"
if [ ! -x "$VENV/bin/moto_server" ] || ! cmp -s requirements-rehearsal.txt "$stamp"; then
  log "installing the emulator into $VENV ($(grep -m1 '^moto' requirements-rehearsal.txt))"
  python3 -m venv "$VENV"
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-rehearsal.txt >"$VENV/install.log" 2>&1; then
    tail -30 "$VENV/install.log"; die "installing requirements-rehearsal.txt into $VENV failed"
  fi
  cp requirements-rehearsal.txt "$stamp"
fi
phase_done install

# ---- 1. the emulator ---------------------------------------------------------------------------
CERT="$PWD/$OUT/tls/cert.pem"
KEY="$PWD/$OUT/tls/key.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$KEY" -out "$CERT" >/dev/null 2>&1 || die "openssl could not make the emulator's certificate"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENDPOINT="https://127.0.0.1:$PORT"

moto_pid=""
deploy_pid=""
cleanup() {
  local pid
  for pid in "$deploy_pid" "$moto_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  # The emulator-mode synth points at an emulator that is gone: leave no stack directory behind that
  # a later `cdktf diff` or `terraform state list` could pick up. The record stays in $OUT.
  rm -rf "$STACKS" cdktf.out/manifest.json "$OUT/plugin-cache" "$OUT/tls/key.pem"
}
trap cleanup EXIT

log "starting moto server $(grep -m1 '^moto' requirements-rehearsal.txt) on $ENDPOINT (TLS, AWS managed policies loaded)"
MOTO_IAM_LOAD_MANAGED_POLICIES=true "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" -c "$CERT" -k "$KEY" >"$OUT/moto.log" 2>&1 &
moto_pid=$!
# Up to 120 s for the server to answer (a loaded 2-core machine), checked from one Python process.
"$VENV/bin/python" - "$ENDPOINT/moto-api/" "$CERT" "$moto_pid" <<'PY' || { tail -20 "$OUT/moto.log"; die "moto server did not answer on $ENDPOINT (log: $OUT/moto.log)"; }
import os, ssl, sys, time, urllib.request
url, cafile, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
context = ssl.create_default_context(cafile=cafile)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, context=context, timeout=2)
        sys.exit(0)
    except OSError:
        os.kill(pid, 0)  # raises when the server has exited
        time.sleep(0.2)
sys.exit(1)
PY
log "moto server answers ($(( $(date +%s) - phase_started ))s after start)"
phase_done emulator-start

# Terraform from the filesystem mirror (as scripts/terraform-check.sh), credentials that can only
# ever reach the emulator, and no profile, SSO or instance role of the machine.
cat >"$OUT/cli.tfrc" <<RC
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
mkdir -p "$OUT/plugin-cache"
export TF_CLI_CONFIG_FILE="$PWD/$OUT/cli.tfrc" TF_PLUGIN_CACHE_DIR="$PWD/$OUT/plugin-cache" TF_IN_AUTOMATION=1
export CHECKPOINT_DISABLE=1 # no version check calls from terraform or cdktf
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_DEFAULT_PROFILE
export AWS_ACCESS_KEY_ID=AKIAREHEARSAL0000000 AWS_SECRET_ACCESS_KEY=rehearsal-emulator-only
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION" TF_VAR_account_id="$ACCOUNT_ID" ENVIRONMENT="$ENV_NAME"
export REHEARSAL_ENDPOINT="$ENDPOINT" REHEARSAL_CA_BUNDLE="$CERT" AWS_ENDPOINT_URL="$ENDPOINT" AWS_CA_BUNDLE="$CERT"
export PATH="$PWD/$VENV/bin:$PATH" # the AWS CLI deploy.sh uses

# The HL7 gateway's TLS listener needs an ACM certificate (TF_VAR_hl7_certificate_arn): import one
# made for this run into the emulator's ACM, as an operator imports the hospital-trusted one.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=hl7.rehearsal.invalid" \
  -keyout "$OUT/tls/hl7.key" -out "$OUT/tls/hl7.pem" >/dev/null 2>&1 || die "openssl could not make the HL7 listener's certificate"
TF_VAR_hl7_certificate_arn=$(aws acm import-certificate --certificate "fileb://$OUT/tls/hl7.pem" --private-key "fileb://$OUT/tls/hl7.key" \
  --query CertificateArn --output text) || die "importing the HL7 listener's certificate into the emulator's ACM failed"
export TF_VAR_hl7_certificate_arn
log "HL7 listener certificate imported into the emulator's ACM: $TF_VAR_hl7_certificate_arn"

# ---- 2 + 3. deploy, and a concurrent plan during the pipeline's apply -----------------------------
log "scripts/deploy.sh --emulator: $BOOTSTRAP, $REGISTRY, image, $PIPELINE (log: $OUT/deploy.log)"
: >"$OUT/deploy.outputs"
GITHUB_OUTPUT="$PWD/$OUT/deploy.outputs" bash scripts/deploy.sh --env "$ENV_NAME" --region "$REGION" --account-id "$ACCOUNT_ID" \
  --emulator "$ENDPOINT" --emulator-ca "$CERT" --skip-provider-lock --tf-log-dir "$OUT/tf-logs" --auto-approve >"$OUT/deploy.log" 2>&1 &
deploy_pid=$!

lock_seen=false
if "$VENV/bin/python" scripts/rehearsal/wait-for-lock.py "$ENDPOINT" "$CERT" "$STACKS/$PIPELINE/cdk.tf.json" "$deploy_pid" >"$OUT/lock-holder.json"; then
  lock_seen=true
  holder_op=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dynamodb_lock"]["Operation"])' "$OUT/lock-holder.json")
  holder_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dynamodb_lock"]["ID"])' "$OUT/lock-holder.json")
  holder_file=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["s3_lock_file"])' "$OUT/lock-holder.json")
  repository_url="$ACCOUNT_ID.dkr.ecr.$REGION.amazonaws.com/vitals-processor-$ENV_NAME"
  log "state lock of $PIPELINE held by $holder_op ($holder_id; S3 lock file present: $holder_file): a concurrent plan must fail on it"
  contender_started=$(date +%s)
  set +e
  (cd "$STACKS/$PIPELINE" && TF_VAR_processor_image="$repository_url@sha256:$(printf '0%.0s' {1..64})" \
    terraform plan -input=false -no-color -lock-timeout=0s -refresh=false) >"$OUT/lock-contender.log" 2>&1
  contender_status=$?
  set -e
  contender_seconds=$(( $(date +%s) - contender_started ))
fi
set +e
wait "$deploy_pid"
deploy_status=$?
set -e
deploy_pid=""
if [ "$deploy_status" -ne 0 ]; then
  tail -40 "$OUT/deploy.log"; die "scripts/deploy.sh failed against the emulator (exit $deploy_status; log: $OUT/deploy.log)"
fi
grep -E '^(==> |deploy.sh: |## |\+ )' "$OUT/deploy.log" | grep -v '^+ ' || true
phase_done deploy

[ "$lock_seen" = true ] || die "the pipeline's state lock was never seen held while it applied (DynamoDB item and S3 lock file)"
[ "$contender_status" -ne 0 ] || die "a concurrent plan SUCCEEDED while $PIPELINE was applying: the state lock does not hold (log: $OUT/lock-contender.log)"
grep -q 'Error acquiring the state lock' "$OUT/lock-contender.log" \
  || { cat "$OUT/lock-contender.log"; die "the concurrent plan failed, but not on the state lock (log: $OUT/lock-contender.log)"; }
grep -qF "$holder_id" "$OUT/lock-contender.log" \
  || die "the concurrent plan failed on a lock, but not the one the apply held ($holder_id)"
[ "$contender_seconds" -le "$LOCK_WAIT_FAIL_FAST_SECONDS" ] || die "the concurrent plan took ${contender_seconds}s to fail: not fast"
lock_reason=$(grep -oE 'PreconditionFailed|ConditionalCheckFailed[A-Za-z]*|status code: 412' "$OUT/lock-contender.log" | head -1 || true)
[ "$holder_file" = True ] || die "the apply held the DynamoDB lock but no S3 lock file (use_lockfile)"
LOCK_RESULT="held by $holder_op (DynamoDB lock item and S3 lock file); concurrent plan refused in ${contender_seconds}s (Error acquiring the state lock${lock_reason:+: $lock_reason}; lock ID matches the apply's)"
log "lock: $LOCK_RESULT"

processor_image=$(sed -n 's/^processor_image=//p' "$OUT/deploy.outputs" | tail -1)
image_source=$(sed -n 's/^processor_image_source=//p' "$OUT/deploy.outputs" | tail -1)
[ -n "$processor_image" ] || die "deploy.sh reported no processor image"
export TF_VAR_processor_image="$processor_image"

declare -A APPLIED=()
for stack in "$BOOTSTRAP" "$REGISTRY" "$PIPELINE"; do
  terraform -chdir="$STACKS/$stack" state list >"$OUT/state-$stack.txt"
  terraform -chdir="$STACKS/$stack" show -json >"$OUT/state-$stack.json"
  # Managed resources only: state list also shows the data sources read.
  APPLIED[$stack]=$(grep -vc '^data\.' "$OUT/state-$stack.txt" || true)
  [ "${APPLIED[$stack]}" -gt 0 ] || die "$stack has nothing in its state after the deploy"
  log "$stack: ${APPLIED[$stack]} resources applied"
done
phase_done state-read

# ---- 4. diff -----------------------------------------------------------------------------------
log "npx cdktf diff $PIPELINE (stacks as synthesized for the deploy: --skip-synth)"
set +e
TF_LOG=debug TF_LOG_PATH="$PWD/$OUT/tf-logs/$PIPELINE-diff.log" npx cdktf diff "$PIPELINE" --skip-synth --skip-provider-lock --no-color >"$OUT/diff.txt" 2>&1
diff_status=$?
set -e
[ "$diff_status" -eq 0 ] || { tail -40 "$OUT/diff.txt"; die "cdktf diff $PIPELINE failed (exit $diff_status)"; }
terraform -chdir="$STACKS/$PIPELINE" show -json plan >"$OUT/diff-plan.json"
helper drift "$OUT/diff-plan.json" "$OUT/diff.txt" >"$OUT/drift.txt" || { cat "$OUT/drift.txt"; die "cdktf diff shows changes that are not allowlisted emulator artifacts (above)"; }
cat "$OUT/drift.txt"
phase_done diff

# ---- 5. the operator path, as the README documents it -------------------------------------------
log "operator path: npx cdktf synth && cd $STACKS/$PIPELINE && terraform init && terraform state list; terraform state show <a stream>"
(npx cdktf synth >/dev/null && cd "$STACKS/$PIPELINE" && terraform init -no-color >/dev/null && terraform state list) >"$OUT/operator-state-list.txt" \
  || die "the operator's terraform state list failed"
listed=$(grep -vc '^data\.' "$OUT/operator-state-list.txt" || true)
[ "$listed" -eq "${APPLIED[$PIPELINE]}" ] || die "terraform state list shows $listed resources, the apply left ${APPLIED[$PIPELINE]}"
stream_address=$(grep -m1 '^aws_kinesis_stream\.' "$OUT/operator-state-list.txt" || true)
[ -n "$stream_address" ] || die "terraform state list shows no aws_kinesis_stream"
(cd "$STACKS/$PIPELINE" && terraform state show -no-color "$stream_address") >"$OUT/operator-state-show.txt" || die "terraform state show $stream_address failed"
for expected in "resource \"aws_kinesis_stream\"" "name *= \"vitals-events-$ENV_NAME\"" "encryption_type *= \"KMS\"" \
  "arn *= \"arn:aws:kinesis:$REGION:$ACCOUNT_ID:stream/vitals-events-$ENV_NAME\""; do
  grep -qE "$expected" "$OUT/operator-state-show.txt" || { cat "$OUT/operator-state-show.txt"; die "terraform state show $stream_address lacks $expected"; }
done
log "operator path: state list shows $listed resources; state show $stream_address shows the stream (name, KMS encryption, ARN)"
phase_done operator-path

# ---- 6. destroy --------------------------------------------------------------------------------
declare -A DESTROYED=() REMOVED=()
for stack in "$PIPELINE" "$REGISTRY"; do
  REMOVED[$stack]=0
  while IFS=$'\t' read -r address reason; do
    [ -n "$address" ] || continue
    echo "    state rm $address (emulator gap, not destroyed: $reason)"
    terraform -chdir="$STACKS/$stack" state rm -no-color "$address" >/dev/null
    REMOVED[$stack]=$((REMOVED[$stack] + 1))
  done < <(helper destroy-removals "$OUT/state-$stack.txt")
  log "npx cdktf destroy $stack"
  set +e
  TF_LOG=debug TF_LOG_PATH="$PWD/$OUT/tf-logs/$stack-destroy.log" npx cdktf destroy "$stack" --auto-approve --skip-synth --skip-provider-lock --no-color >"$OUT/destroy-$stack.txt" 2>&1
  destroy_status=$?
  set -e
  [ "$destroy_status" -eq 0 ] || { tail -40 "$OUT/destroy-$stack.txt"; die "cdktf destroy $stack failed (exit $destroy_status)"; }
  left=$(terraform -chdir="$STACKS/$stack" state list | grep -vc '^data\.' || true)
  [ "$left" -eq 0 ] || die "$stack still has $left resources in state after destroy"
  DESTROYED[$stack]=$(( APPLIED[$stack] - REMOVED[$stack] ))
  log "$stack: ${DESTROYED[$stack]} destroyed, ${REMOVED[$stack]} state-removed (emulator gaps), nothing left in state"
done
phase_done destroy

# ---- 7. the API call record ----------------------------------------------------------------------
helper api-calls "$OUT/tf-logs" "$OUT/api-calls.json" \
  "$BOOTSTRAP=$OUT/state-$BOOTSTRAP.json" "$REGISTRY=$OUT/state-$REGISTRY.json" "$PIPELINE=$OUT/state-$PIPELINE.json" >"$OUT/api-calls.txt" \
  || die "could not build the API call record"
cat "$OUT/api-calls.txt"
phase_done api-record

# ---- 8. the CI roles allow what this deploy called -----------------------------------------------
# Every call of the registry and pipeline stacks (apply, destroy: the deploy role; diff: the diff role)
# evaluated against the CI roles' synthesized policies (src/infra/policy-sim). Synthesized here with a
# repository set (the emulator mode changes no policy); any denied call fails the rehearsal.
log "CI roles against this rehearsal's API calls (policy simulation)"
# prod too: the apply's calls are evaluated once more, renamed for prod, as the prod deploy role.
ci_envs=$ENV_NAME; [ "$ENV_NAME" = prod ] || ci_envs="$ENV_NAME,prod"
env -u REHEARSAL_ENDPOINT -u REHEARSAL_CA_BUNDLE CI_GITHUB_REPOSITORY=example-org/vitals-pipeline CI_ENVIRONMENTS="$ci_envs" \
  npx cdktf synth --output "$OUT/ci-synth" >"$OUT/ci-synth.log" 2>&1 || { tail -20 "$OUT/ci-synth.log"; die "synth with CI roles failed"; }
npx ts-node --transpile-only src/infra/policy-sim/cli.ts check-calls "$OUT/api-calls.json" "$OUT/ci-synth/stacks" "$ENV_NAME" \
  "$OUT/state-$BOOTSTRAP.json" "$OUT/state-$REGISTRY.json" "$OUT/state-$PIPELINE.json" >"$OUT/ci-role-calls.txt" 2>&1 \
  || { grep -v '^not evaluated' "$OUT/ci-role-calls.txt" | tail -40; die "the CI roles deny calls this deploy made (cdktf.out/rehearsal/ci-role-calls.txt)"; }
tail -1 "$OUT/ci-role-calls.txt"
phase_done ci-roles

# ---- summary -----------------------------------------------------------------------------------
wall=$(( $(date +%s) - started ))
if [ "$image_source" = synthetic ]; then
  image_note="SYNTHETIC digest (no image built: no Docker daemon)"
else
  image_note="local image id (not pushed)"
fi
summary="rehearsal: applied $BOOTSTRAP ${APPLIED[$BOOTSTRAP]}, $REGISTRY ${APPLIED[$REGISTRY]}, $PIPELINE ${APPLIED[$PIPELINE]}"
summary+="; lock: $LOCK_RESULT"
summary+="; drift: $(sed -n 's/^drift: //p' "$OUT/drift.txt")"
summary+="; destroyed $PIPELINE ${DESTROYED[$PIPELINE]} + $REGISTRY ${DESTROYED[$REGISTRY]} (state-removed emulator gaps: $(( REMOVED[$PIPELINE] + REMOVED[$REGISTRY] )))"
summary+="; API calls: $(sed -n 's/^api-calls: //p' "$OUT/api-calls.txt")"
summary+="; CI roles: $(sed -n 's/^deploy-role calls: //p' "$OUT/ci-role-calls.txt")"
summary+="; image: $image_note"
summary+="; wall time ${wall}s ($(IFS=,; echo "${PHASES[*]}" | sed 's/,/, /g'))"
echo "$summary" >"$OUT/summary.txt"
echo
echo "$summary"
