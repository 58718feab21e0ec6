#!/usr/bin/env bash
# First deploy (and every later one) of one environment, in the only order that works:
#
#   1. bootstrap  state bucket, lock table and key            cdktf deploy state-bootstrap
#   2. registry   the processor's ECR repository               cdktf deploy registry-<env>
#   3. image      build, push, resolve the digest              docker build/push, aws ecr describe-images
#   4. pipeline   everything else, pinned to that digest       TF_VAR_processor_image=… cdktf deploy pipeline-<env>
#   5. migrate    schema migrations as a one-off ECS task       aws ecs run-task … (exit code checked)
#   6. verify     processor service stable at its task count   aws ecs wait services-stable
#
# The pipeline stack refuses to plan without a digest-pinned image from this environment's
# repository, so step 4 can never start tasks that have nothing to pull.
#
# Usage: scripts/deploy.sh --env dev [--region eu-central-2] [--account-id 123456789012]
#          [--steps registry,image,pipeline,migrate,verify] [--skip-bootstrap] [--image URI@sha256:…]
#          [--image-tag TAG] [--platform linux/amd64] [--dockerfile Dockerfile] [--auto-approve] [--dry-run]
#          [--skip-provider-lock] [--tf-log-dir DIR] [--emulator https://127.0.0.1:PORT --emulator-ca CERT.pem]
# --dry-run prints every command without running anything that changes AWS (and without needing
# AWS credentials); values only AWS can tell (account, digest, outputs) appear as <placeholders>.
# --skip-provider-lock passes the same flag to cdktf: for terraform set up with a provider mirror and
# no registry access (cdktf otherwise runs `terraform providers lock`, which asks the registry).
# --tf-log-dir keeps terraform's debug log of each stack as DIR/<stack>-apply.log (every AWS API
# call it made: src/rehearsal turns them into an API call record). It holds request bodies: keep it
# private.
# --emulator runs the same sequence against a local AWS API emulator (the deploy rehearsal,
# scripts/rehearse.sh): the stacks are synthesized for it (src/infra/emulator), the image is built
# locally (scripts/image.sh build) and not pushed, and the migrate and verify steps are skipped
# because the emulator runs no containers.
set -euo pipefail

cd "$(dirname "$0")/.."

ALL_STEPS="bootstrap,registry,image,pipeline,migrate,verify"
ENV_NAME="${ENVIRONMENT:-dev}"
REGION="${AWS_REGION:-eu-central-2}"
ACCOUNT_ID="${TF_VAR_account_id:-}"
STEPS="$ALL_STEPS"
SKIP_BOOTSTRAP=false
DRY_RUN=false
AUTO_APPROVE=false
PROCESSOR_IMAGE="${PROCESSOR_IMAGE:-}"
IMAGE_TAG=""
PLATFORM="linux/amd64" # the task definitions' default CPU architecture (X86_64)
DOCKERFILE="Dockerfile"
MIGRATION_CONTAINER="migrate"
MIGRATION_WAIT_ROUNDS=3 # `aws ecs wait tasks-stopped` gives up after 10 min; migrations get 30
TF_LOG_DIR=""
CDKTF_FLAGS=()
EMULATOR=""
EMULATOR_CA="${REHEARSAL_CA_BUNDLE:-}"
# Exit status of scripts/image.sh when no Docker daemon can run (after its SKIPPED banner).
IMAGE_SKIPPED_STATUS=3

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die() {
  echo "deploy.sh: error: $*" >&2
  exit 1
}

log() {
  echo "==> $*" >&2
}

# Prints a command as it could be pasted into a shell (to stderr, so it never mixes with output).
show() {
  local line="+" arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then line+=" $arg"; else line+=" '${arg//\'/\'\\\'\'}'"; fi
  done
  echo "$line" >&2
}

# Shows a command, then runs it unless --dry-run.
run() {
  show "$@"
  if [ "$DRY_RUN" = false ]; then
    "$@"
  fi
}

# Like run, for commands whose output is needed; in a dry run prints the placeholder instead.
capture() {
  local placeholder="$1"
  shift
  show "$@"
  if [ "$DRY_RUN" = true ]; then
    printf '%s' "$placeholder"
  else
    "$@"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:?--env needs a value}"; shift 2 ;;
    --region) REGION="${2:?--region needs a value}"; shift 2 ;;
    --account-id) ACCOUNT_ID="${2:?--account-id needs a value}"; shift 2 ;;
    --steps) STEPS="${2:?--steps needs a value}"; shift 2 ;;
    --skip-bootstrap) SKIP_BOOTSTRAP=true; shift ;;
    --image) PROCESSOR_IMAGE="${2:?--image needs a value}"; shift 2 ;;
    --image-tag) IMAGE_TAG="${2:?--image-tag needs a value}"; shift 2 ;;
    --platform) PLATFORM="${2:?--platform needs a value}"; shift 2 ;;
    --dockerfile) DOCKERFILE="${2:?--dockerfile needs a value}"; shift 2 ;;
    --auto-approve) AUTO_APPROVE=true; shift ;;
    --dry-run) DRY_RUN=true; shift ;;
    --skip-provider-lock) CDKTF_FLAGS+=(--skip-provider-lock); shift ;;
    --tf-log-dir) TF_LOG_DIR="${2:?--tf-log-dir needs a value}"; shift 2 ;;
    --emulator) EMULATOR="${2:?--emulator needs a value}"; shift 2 ;;
    --emulator-ca) EMULATOR_CA="${2:?--emulator-ca needs a value}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# ---- validate the arguments ------------------------------------------------------------------
[[ "$ENV_NAME" =~ ^[a-z][a-z0-9]{0,7}$ ]] \
  || die "--env must be lowercase alphanumeric, start with a letter, at most 8 characters; received '$ENV_NAME'"
[[ "$REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || die "--region must be an AWS region code such as eu-central-2; received '$REGION'"
[ -z "$ACCOUNT_ID" ] || [[ "$ACCOUNT_ID" =~ ^[0-9]{12}$ ]] || die "--account-id must be 12 digits; received '$ACCOUNT_ID'"
if [ -n "$EMULATOR" ]; then
  # Loopback only: emulator mode must never send a deploy anywhere else (src/infra/emulator checks too).
  [[ "$EMULATOR" =~ ^https://(127(\.[0-9]{1,3}){3}|localhost|\[::1\]):[0-9]{1,5}$ ]] \
    || die "--emulator must be an https URL of an emulator on loopback (https://127.0.0.1:PORT); received '$EMULATOR'"
  [ -n "$EMULATOR_CA" ] && [ -f "$EMULATOR_CA" ] || die "--emulator needs --emulator-ca: the PEM file that verifies the emulator's certificate; received '$EMULATOR_CA'"
  EMULATOR_CA="$(cd "$(dirname "$EMULATOR_CA")" && pwd)/$(basename "$EMULATOR_CA")"
  # The cdktf app synthesizes for the emulator (src/infra/emulator); the AWS CLI talks to it too.
  export REHEARSAL_ENDPOINT="$EMULATOR" REHEARSAL_CA_BUNDLE="$EMULATOR_CA" AWS_ENDPOINT_URL="$EMULATOR" AWS_CA_BUNDLE="$EMULATOR_CA"
elif [ -n "${REHEARSAL_ENDPOINT:-}" ]; then
  die "REHEARSAL_ENDPOINT is set (emulator mode of the cdktf app) but --emulator is not: unset it for a real deploy"
fi
if [ -n "$TF_LOG_DIR" ]; then
  mkdir -p "$TF_LOG_DIR"
  TF_LOG_DIR="$(cd "$TF_LOG_DIR" && pwd)"
fi

declare -a SELECTED=()
IFS=',' read -r -a requested <<<"$STEPS"
for step in "${requested[@]}"; do
  case ",$ALL_STEPS," in
    *",$step,"*) ;;
    *) die "--steps takes a comma-separated subset of $ALL_STEPS; received '$step'" ;;
  esac
  if [ "$step" = bootstrap ] && [ "$SKIP_BOOTSTRAP" = true ]; then continue; fi
  SELECTED+=("$step")
done
[ "${#SELECTED[@]}" -gt 0 ] || die "no step left to run"
wants() {
  local s
  for s in "${SELECTED[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

if [ -n "$PROCESSOR_IMAGE" ] && wants image; then
  die "--image (or PROCESSOR_IMAGE) pins an image already built: leave 'image' out of --steps"
fi
if [ -z "$PROCESSOR_IMAGE" ] && wants pipeline && ! wants image; then
  die "the pipeline step needs the processor image: run the image step too, or pass --image <account>.dkr.ecr.$REGION.amazonaws.com/vitals-processor-$ENV_NAME@sha256:…"
fi

BOOTSTRAP_STACK="state-bootstrap"
REGISTRY_STACK="registry-$ENV_NAME"
PIPELINE_STACK="pipeline-$ENV_NAME"
REPOSITORY="vitals-processor-$ENV_NAME"
CDKTF_APPROVE=()
if [ "$AUTO_APPROVE" = true ]; then CDKTF_APPROVE=(--auto-approve); fi

# ---- prerequisites ---------------------------------------------------------------------------
missing=()
need() {
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 ($2)")
}
need node "Node.js 20, runs the cdktf app"
need npx "ships with npm"
if wants bootstrap || wants registry || wants pipeline || wants migrate || wants verify; then
  need terraform "Terraform >= 1.10, runs every cdktf deploy"
fi
need aws "AWS CLI, for ECR, ECS and the caller identity"
if wants image && [ -z "$EMULATOR" ]; then need docker "builds and pushes the processor image"; fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$DRY_RUN" = true ]; then
    echo "deploy.sh: warning: missing (a real run stops here): ${missing[*]}" >&2
  else
    die "missing prerequisites: ${missing[*]}"
  fi
fi
if wants image && [ "$DRY_RUN" = true ] && [ ! -f "$DOCKERFILE" ]; then
  echo "deploy.sh: warning: no $DOCKERFILE (a real run stops here)" >&2
fi
if wants image && [ "$DRY_RUN" = false ] && [ -z "$EMULATOR" ]; then
  [ -f "$DOCKERFILE" ] || die "no $DOCKERFILE in $(pwd): the image step builds the processor image from it (--dockerfile PATH)"
  docker info >/dev/null 2>&1 || die "docker is installed but its daemon does not answer (docker info failed): start Docker and retry"
fi

# AWS credentials, and the account they belong to.
if [ "$DRY_RUN" = true ]; then
  caller_account="${ACCOUNT_ID:-<account-id>}"
else
  caller_account="$(aws sts get-caller-identity --region "$REGION" --query Account --output text 2>/dev/null)" \
    || die "no usable AWS credentials (aws sts get-caller-identity failed): configure a profile, SSO login or role first"
fi
if [ -n "$ACCOUNT_ID" ] && [ "$ACCOUNT_ID" != "$caller_account" ]; then
  die "--account-id $ACCOUNT_ID differs from the account of your credentials ($caller_account)"
fi
ACCOUNT_ID="$caller_account"
REGISTRY_HOST="$ACCOUNT_ID.dkr.ecr.$REGION.amazonaws.com"
REPOSITORY_URI="$REGISTRY_HOST/$REPOSITORY"

# The cdktf app reads its settings from these (src/infra/config.ts); Terraform reads TF_VAR_*.
export ENVIRONMENT="$ENV_NAME" AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION" TF_VAR_account_id="$ACCOUNT_ID"

log "environment $ENV_NAME, region $REGION, account $ACCOUNT_ID, steps: ${SELECTED[*]}$([ "$DRY_RUN" = true ] && echo ' (dry run)')$([ -n "$EMULATOR" ] && echo " (EMULATOR at $EMULATOR: nothing reaches AWS)")"

# cdktf deploy of one stack; with --tf-log-dir, terraform's debug log of it goes to DIR/<stack>-apply.log.
cdktf_deploy() {
  local stack="$1"
  shift
  if [ -n "$TF_LOG_DIR" ]; then set -- TF_LOG=debug TF_LOG_PATH="$TF_LOG_DIR/$stack-apply.log" "$@"; fi
  if [ $# -gt 0 ]; then
    run env "$@" npx cdktf deploy "$stack" "${CDKTF_APPROVE[@]}" "${CDKTF_FLAGS[@]}"
  else
    run npx cdktf deploy "$stack" "${CDKTF_APPROVE[@]}" "${CDKTF_FLAGS[@]}"
  fi
}

# Value of one output of a deployed stack (read from its remote state).
stack_output() {
  local name="$2" dir="cdktf.out/stacks/$1"
  if [ "$DRY_RUN" = true ]; then
    capture "<$name>" terraform -chdir="$dir" output -raw "$name"
    return
  fi
  [ -f "$dir/cdk.tf.json" ] || run npx cdktf synth >/dev/null
  [ -d "$dir/.terraform" ] || run terraform -chdir="$dir" init -input=false -no-color >/dev/null
  terraform -chdir="$dir" output -raw "$name"
}

# ---- 1. bootstrap ----------------------------------------------------------------------------
if wants bootstrap; then
  if [ -n "$EMULATOR" ]; then
    log "1/6 state bootstrap (local state of the rehearsal: cdktf.out/rehearsal/terraform.$BOOTSTRAP_STACK.tfstate)"
  else
    log "1/6 state bootstrap (local state: terraform.$BOOTSTRAP_STACK.tfstate; keep it safe)"
  fi
  cdktf_deploy "$BOOTSTRAP_STACK"
fi

# ---- 2. registry -----------------------------------------------------------------------------
if wants registry; then
  log "2/6 image registry $REPOSITORY"
  cdktf_deploy "$REGISTRY_STACK"
fi

# ---- 3. image --------------------------------------------------------------------------------
# Against the emulator: build locally (scripts/image.sh), no push (the emulator stores no images);
# the digest is the local image id, or a synthetic one when no Docker daemon can run here.
emulator_image() {
  local repository_url id_line="" status=0 out IMAGE_SOURCE why="no Docker daemon can run here: scripts/image.sh exited $IMAGE_SKIPPED_STATUS"
  repository_url="$(stack_output "$REGISTRY_STACK" ecr_repository_url)"
  log "3/6 processor image: built locally; the push to $repository_url is SKIPPED against the emulator (it stores no images)"
  if [ ! -f scripts/image.sh ]; then
    status=$IMAGE_SKIPPED_STATUS
    why="scripts/image.sh is missing"
  elif [ "$DRY_RUN" = true ]; then
    show bash scripts/image.sh build
    id_line="image_id=sha256:<local-image-id>"
  else
    out="$(mktemp "${TMPDIR:-/tmp}/image-build.XXXXXX")"
    show bash scripts/image.sh build
    bash scripts/image.sh build >"$out" || status=$?
    cat "$out" >&2
    id_line="$(tail -n 1 "$out")"
    rm -f "$out"
  fi
  if [ "$status" -eq 0 ]; then
    [ "$DRY_RUN" = true ] || [[ "$id_line" =~ ^image_id=sha256:[0-9a-f]{64}$ ]] \
      || die "scripts/image.sh build did not end with image_id=sha256:<64 hex> (last line: '$id_line')"
    PROCESSOR_IMAGE="$repository_url@${id_line#image_id=}"
    log "processor image: $PROCESSOR_IMAGE (the digest is the LOCAL IMAGE ID, not a registry manifest digest: nothing was pushed)"
    IMAGE_SOURCE=local-image-id
  elif [ "$status" -eq "$IMAGE_SKIPPED_STATUS" ]; then
    PROCESSOR_IMAGE="$repository_url@sha256:$(printf '0%.0s' {1..63})1"
    echo "################################################################################" >&2
    echo "## SYNTHETIC IMAGE DIGEST: no image was built ($why)." >&2
    echo "## The pipeline is planned with $PROCESSOR_IMAGE" >&2
    echo "## (image: SYNTHETIC), which names no image anywhere." >&2
    echo "################################################################################" >&2
    IMAGE_SOURCE=synthetic
  else
    die "scripts/image.sh build failed (exit $status)"
  fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then printf 'processor_image=%s\nprocessor_image_source=%s\n' "$PROCESSOR_IMAGE" "$IMAGE_SOURCE" >>"$GITHUB_OUTPUT"; fi
}

if wants image && [ -n "$EMULATOR" ]; then
  emulator_image
elif wants image; then
  if [ -z "$IMAGE_TAG" ]; then
    # Tags are immutable: the commit names the image; uncommitted changes get a unique suffix.
    IMAGE_TAG="$(git rev-parse --short=12 HEAD 2>/dev/null || echo manual)"
    if [ -n "$(git status --porcelain 2>/dev/null || true)" ]; then IMAGE_TAG="$IMAGE_TAG-dirty-$(date -u +%Y%m%d%H%M%S)"; fi
  fi
  log "3/6 processor image $REPOSITORY_URI:$IMAGE_TAG"
  if [ "$DRY_RUN" = true ]; then
    echo "+ aws ecr get-login-password --region $REGION | docker login --username AWS --password-stdin $REGISTRY_HOST" >&2
  else
    aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY_HOST" >/dev/null \
      || die "docker login to $REGISTRY_HOST failed: does the registry stack exist (step registry) and may you push to it?"
  fi
  existing="$(capture "" aws ecr describe-images --repository-name "$REPOSITORY" --image-ids "imageTag=$IMAGE_TAG" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true)"
  if [ -n "$existing" ] && [ "$existing" != "None" ]; then
    log "tag $IMAGE_TAG is already in $REPOSITORY (immutable): reusing it"
  else
    run docker build --platform "$PLATFORM" --file "$DOCKERFILE" --tag "$REPOSITORY_URI:$IMAGE_TAG" .
    run docker push "$REPOSITORY_URI:$IMAGE_TAG"
  fi
  digest="$(capture "sha256:<digest>" aws ecr describe-images --repository-name "$REPOSITORY" --image-ids "imageTag=$IMAGE_TAG" \
    --query 'imageDetails[0].imageDigest' --output text)"
  [ "$DRY_RUN" = true ] || [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "could not resolve the digest of $REPOSITORY_URI:$IMAGE_TAG (got '$digest')"
  PROCESSOR_IMAGE="$REPOSITORY_URI@$digest"
  log "processor image: $PROCESSOR_IMAGE"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "processor_image=$PROCESSOR_IMAGE" >>"$GITHUB_OUTPUT"; fi
fi

# ---- 4. pipeline -----------------------------------------------------------------------------
if wants pipeline; then
  log "4/6 pipeline $PIPELINE_STACK with $PROCESSOR_IMAGE"
  cdktf_deploy "$PIPELINE_STACK" TF_VAR_processor_image="$PROCESSOR_IMAGE"
fi

if [ -n "$EMULATOR" ]; then
  for step in migrate verify; do
    if wants "$step"; then
      log "SKIPPED against the emulator: step $step (it runs ECS tasks; the emulator runs no containers or databases)"
    fi
  done
  log "done: $ENV_NAME deployed to the EMULATOR at $EMULATOR (migrations and service checks not run)"
  exit 0
fi

# ---- 5. migrate ------------------------------------------------------------------------------
if wants migrate || wants verify; then
  cluster="$(stack_output "$PIPELINE_STACK" ecs_cluster_name)"
  service="$(stack_output "$PIPELINE_STACK" ecs_service_name)"
fi
if wants migrate; then
  log "5/6 database migrations (one-off ECS task in the private subnets, processor security group)"
  task_definition="$(stack_output "$PIPELINE_STACK" ecs_migration_task_definition_arn)"
  subnets="$(stack_output "$PIPELINE_STACK" subnet_csv)"
  security_group="$(stack_output "$PIPELINE_STACK" processor_security_group_id)"
  log_group="$(stack_output "$PIPELINE_STACK" processor_log_group_name)"
  task_arn="$(capture "<migration-task-arn>" aws ecs run-task --cluster "$cluster" --task-definition "$task_definition" \
    --launch-type FARGATE --count 1 --started-by deploy.sh \
    --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$security_group],assignPublicIp=DISABLED}" \
    --query 'tasks[0].taskArn' --output text)"
  if [ "$DRY_RUN" = false ] && { [ -z "$task_arn" ] || [ "$task_arn" = "None" ]; }; then
    die "the migration task did not start (aws ecs run-task returned no task; see its 'failures', e.g. capacity or a missing task definition)"
  fi
  for round in $(seq 1 "$MIGRATION_WAIT_ROUNDS"); do
    if run aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task_arn"; then break; fi
    [ "$round" -lt "$MIGRATION_WAIT_ROUNDS" ] || die "the migration task $task_arn has not stopped after $((MIGRATION_WAIT_ROUNDS * 10)) minutes"
  done
  exit_code="$(capture 0 aws ecs describe-tasks --cluster "$cluster" --tasks "$task_arn" \
    --query "tasks[0].containers[?name=='$MIGRATION_CONTAINER'].exitCode | [0]" --output text)"
  if [ "$exit_code" != "0" ]; then
    reason="$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task_arn" --query 'tasks[0].stoppedReason' --output text 2>/dev/null || true)"
    die "migrations failed (container exit code '$exit_code'; task stopped: $reason). Logs: aws logs tail $log_group --log-stream-names migrate/$MIGRATION_CONTAINER/${task_arn##*/}"
  fi
  log "migrations applied (exit code 0)"
fi

# ---- 6. verify -------------------------------------------------------------------------------
if wants verify; then
  log "6/6 processor service $service"
  rollout="$(capture "COMPLETED" aws ecs describe-services --cluster "$cluster" --services "$service" \
    --query "services[0].deployments[?status=='PRIMARY'].rolloutState | [0]" --output text)"
  if [ "$rollout" = "FAILED" ]; then
    # On a first deploy the tasks start before the schema exists and the circuit breaker stops the
    # rollout; with the schema in place a new deployment succeeds.
    log "the last rollout failed (tasks started before the migrations): starting a new deployment"
    run aws ecs update-service --cluster "$cluster" --service "$service" --force-new-deployment >/dev/null
  fi
  run aws ecs wait services-stable --cluster "$cluster" --services "$service" \
    || die "service $service did not become stable: aws ecs describe-services --cluster $cluster --services $service (events), and the processor logs"
  counts="$(capture "2 2" aws ecs describe-services --cluster "$cluster" --services "$service" \
    --query 'services[0].[runningCount,desiredCount]' --output text)"
  read -r running desired <<<"$counts"
  if [ "$DRY_RUN" = false ] && { [ "$desired" -lt 1 ] || [ "$running" -lt "$desired" ]; }; then
    die "service $service runs $running of $desired tasks"
  fi
  log "service $service: $running/$desired tasks running"
fi

log "done: $ENV_NAME deployed. Outputs: terraform -chdir=cdktf.out/stacks/$PIPELINE_STACK output"
