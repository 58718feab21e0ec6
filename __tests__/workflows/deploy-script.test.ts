/**
 * scripts/deploy.sh: the first-deploy sequence. Dry runs check the printed plan; full runs use
 * stand-in `aws`, `docker`, `terraform` and `npx` commands on PATH that record their calls, so the
 * script's own control flow (ordering, digest pinning, the migration exit-code check, the rollout
 * retry) runs for real without an AWS account.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(__dirname, '../../scripts/deploy.sh');
const ACCOUNT = '123456789012';
const DIGEST = `sha256:${'b'.repeat(64)}`;
const IMAGE = `${ACCOUNT}.dkr.ecr.eu-central-2.amazonaws.com/vitals-processor-dev@${DIGEST}`;
/** The only system tools the script and the stand-ins use: linked into the sandbox, so PATH holds nothing else. */
const SYSTEM_TOOLS = ['bash', 'dirname', 'basename', 'git', 'date', 'seq', 'env', 'mkdir', 'touch', 'cat', 'awk', 'node', 'mktemp', 'tail', 'rm'] as const;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: string[];
}

const STUBS: Record<string, string> = {
  aws: `
case "$1 $2" in
  "sts get-caller-identity") if [ -n "\${FAKE_NO_CREDENTIALS:-}" ]; then echo "Unable to locate credentials" >&2; exit 255; fi; echo ${ACCOUNT} ;;
  "ecr get-login-password") echo not-a-real-password ;;
  "ecr describe-images") if [ -f "$STATE/pushed" ]; then echo ${DIGEST}; else echo None; fi ;;
  "ecs run-task") echo arn:aws:ecs:eu-central-2:${ACCOUNT}:task/vitals-dev/0123456789abcdef ;;
  "ecs wait") exit 0 ;;
  "ecs describe-tasks") if [[ "$*" == *exitCode* ]]; then echo "\${FAKE_MIGRATION_EXIT:-0}"; else echo "Essential container in task exited"; fi ;;
  "ecs describe-services") if [[ "$*" == *rolloutState* ]]; then echo "\${FAKE_ROLLOUT:-COMPLETED}"; else printf '2\\t2\\n'; fi ;;
  "ecs update-service") echo '{}' ;;
  *) echo "unexpected: aws $*" >&2; exit 2 ;;
esac`,
  docker: `
case "$1" in
  info) exit 0 ;;
  login) cat >/dev/null; echo "Login Succeeded" ;;
  build) exit 0 ;;
  push) touch "$STATE/pushed" ;;
  *) echo "unexpected: docker $*" >&2; exit 2 ;;
esac`,
  terraform: `
if [[ "$*" == *" init "* ]]; then mkdir -p cdktf.out/stacks/pipeline-dev/.terraform; fi
if [[ "$*" == *" output -raw "* ]]; then
  case "\${@: -1}" in
    ecr_repository_url) echo ${ACCOUNT}.dkr.ecr.eu-central-2.amazonaws.com/vitals-processor-dev ;;
    ecs_cluster_name) echo vitals-dev ;;
    ecs_service_name) echo vitals-processor-dev ;;
    ecs_migration_task_definition_arn) echo arn:aws:ecs:eu-central-2:${ACCOUNT}:task-definition/vitals-migrate-dev:3 ;;
    subnet_csv) echo subnet-a,subnet-b,subnet-c ;;
    processor_security_group_id) echo sg-processor ;;
    processor_log_group_name) echo /ecs/vitals-processor-dev ;;
    *) echo "unknown output" >&2; exit 1 ;;
  esac
fi`,
  npx: `[ "$*" = "cdktf synth" ] && mkdir -p cdktf.out/stacks/pipeline-dev && touch cdktf.out/stacks/pipeline-dev/cdk.tf.json
echo "  (TF_VAR_processor_image=\${TF_VAR_processor_image:-} TF_VAR_account_id=\${TF_VAR_account_id:-} ENVIRONMENT=\${ENVIRONMENT:-})" >> "$CALLS"`,
};

const sandboxes: string[] = [];
afterAll(() => {
  for (const root of sandboxes) rmSync(root, { recursive: true, force: true });
});

/** A scratch copy of the repository layout the script expects, with stand-ins on PATH. */
function sandbox(withStubs: readonly string[] = Object.keys(STUBS), files: Record<string, string> = {}): { repo: string; bin: string; sys: string; calls: string; state: string } {
  const root = mkdtempSync(join(process.env.TMPDIR ?? '/tmp', 'deploy-sh-'));
  sandboxes.push(root);
  const repo = join(root, 'repo');
  const bin = join(root, 'bin');
  const sys = join(root, 'sys');
  const state = join(root, 'state');
  for (const dir of [join(repo, 'scripts'), bin, sys, state]) mkdirSync(dir, { recursive: true });
  for (const tool of SYSTEM_TOOLS) {
    const found = spawnSync('/bin/bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found === '') throw new Error(`the deploy.sh tests need ${tool} on PATH`);
    symlinkSync(found, join(sys, tool));
  }
  copyFileSync(SCRIPT, join(repo, 'scripts', 'deploy.sh'));
  writeFileSync(join(repo, 'Dockerfile'), 'FROM scratch\n');
  for (const [path, content] of Object.entries(files)) writeFileSync(join(repo, path), content);
  const calls = join(root, 'calls.log');
  writeFileSync(calls, '');
  for (const name of withStubs) {
    const path = join(bin, name);
    writeFileSync(path, `#!/bin/bash\necho "${name} $*" >> "$CALLS"\n${STUBS[name]}\n`);
    chmodSync(path, 0o755);
  }
  return { repo, bin, sys, calls, state };
}

/** A clean environment: the stand-ins first on PATH, git confined to the sandbox (so the image tag is 'manual'). */
function baseEnv(box: { repo: string; bin: string; sys: string; calls: string; state: string }): Record<string, string> {
  return { PATH: `${box.bin}:${box.sys}`, HOME: box.repo, CALLS: box.calls, STATE: box.state, GIT_CEILING_DIRECTORIES: resolve(box.repo, '..') };
}

function deploy(args: readonly string[], options: { stubs?: readonly string[]; env?: Record<string, string>; files?: Record<string, string> } = {}): Run {
  const box = sandbox(options.stubs, options.files);
  const result = spawnSync('/bin/bash', [join(box.repo, 'scripts', 'deploy.sh'), ...args], {
    cwd: box.repo,
    encoding: 'utf8',
    env: { ...baseEnv(box), ...options.env },
    timeout: 30_000,
  });
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    calls: readFileSync(box.calls, 'utf8').split('\n').filter((l) => l !== ''),
  };
}

/** Asserts that each pattern matches a later line than the previous one. */
function expectInOrder(lines: readonly string[], patterns: readonly RegExp[]): void {
  let from = 0;
  for (const pattern of patterns) {
    const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
    if (index < 0) throw new Error(`expected ${pattern} after line ${from} in:\n${lines.join('\n')}`);
    from = index + 1;
  }
}

describe('scripts/deploy.sh --dry-run', () => {
  test('prints the whole first-deploy sequence in order without touching AWS', () => {
    const run = deploy(['--env', 'dev', '--account-id', ACCOUNT, '--dry-run'], { stubs: [] });
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([]);
    expectInOrder(run.stderr.split('\n'), [
      /^\+ npx cdktf deploy state-bootstrap$/,
      /^\+ npx cdktf deploy registry-dev$/,
      /^\+ aws ecr get-login-password --region eu-central-2 \| docker login --username AWS --password-stdin 123456789012\.dkr\.ecr\.eu-central-2\.amazonaws\.com$/,
      /^\+ docker build --platform linux\/amd64 .*--tag 123456789012\.dkr\.ecr\.eu-central-2\.amazonaws\.com\/vitals-processor-dev:/,
      /^\+ docker push /,
      /^\+ aws ecr describe-images --repository-name vitals-processor-dev .*imageDigest/,
      /^\+ env 'TF_VAR_processor_image=123456789012\.dkr\.ecr\.eu-central-2\.amazonaws\.com\/vitals-processor-dev@sha256:<digest>' npx cdktf deploy pipeline-dev$/,
      /^\+ aws ecs run-task --cluster .* --launch-type FARGATE .*assignPublicIp=DISABLED/,
      /^\+ aws ecs wait tasks-stopped /,
      /^\+ aws ecs describe-tasks .*exitCode/,
      /^\+ aws ecs wait services-stable /,
    ]);
  });

  test('--skip-bootstrap leaves the state bootstrap out', () => {
    const run = deploy(['--env', 'dev', '--account-id', ACCOUNT, '--dry-run', '--skip-bootstrap'], { stubs: [] });
    expect(run.status).toBe(0);
    expect(run.stderr).not.toMatch(/state-bootstrap/);
    expect(run.stderr).toMatch(/cdktf deploy registry-dev/);
  });

  test('--auto-approve is passed to every cdktf deploy', () => {
    const run = deploy(['--env', 'dev', '--account-id', ACCOUNT, '--dry-run', '--auto-approve'], { stubs: [] });
    const deploys = run.stderr.split('\n').filter((l) => l.startsWith('+') && l.includes('cdktf deploy'));
    expect(deploys).toHaveLength(3);
    for (const line of deploys) expect(line).toMatch(/--auto-approve$/);
  });

  test('--help prints the usage', () => {
    const run = deploy(['--help'], { stubs: [] });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/Usage: scripts\/deploy.sh --env dev/);
    expect(run.stdout).not.toMatch(/set -euo pipefail/);
  });
});

describe('scripts/deploy.sh argument and prerequisite checks', () => {
  test('an invalid environment is refused with the value received', () => {
    const run = deploy(['--env', 'Prod_1', '--dry-run'], { stubs: [] });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--env must be lowercase alphanumeric.*received 'Prod_1'/);
  });

  test('an unknown step is refused', () => {
    const run = deploy(['--env', 'dev', '--steps', 'registry,teleport', '--dry-run'], { stubs: [] });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--steps takes a comma-separated subset of .*received 'teleport'/);
  });

  test('the pipeline step without an image step or --image is refused', () => {
    const run = deploy(['--env', 'dev', '--steps', 'pipeline', '--dry-run'], { stubs: [] });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/the pipeline step needs the processor image/);
  });

  test('an account id that is not 12 digits is refused', () => {
    const run = deploy(['--env', 'dev', '--account-id', '42', '--dry-run'], { stubs: [] });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--account-id must be 12 digits; received '42'/);
  });

  test('missing tools are named before anything runs', () => {
    const run = deploy(['--env', 'dev'], { stubs: ['npx'] });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/missing prerequisites: .*terraform .*aws .*docker/);
    expect(run.calls).toEqual([]);
  });

  test('missing AWS credentials stop the run with a clear message', () => {
    const run = deploy(['--env', 'dev', '--steps', 'registry'], { env: { FAKE_NO_CREDENTIALS: '1' } });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/no usable AWS credentials \(aws sts get-caller-identity failed\)/);
    expect(run.calls.filter((c) => !c.startsWith('aws sts'))).toEqual([]);
  });

  test('credentials of another account than --account-id are refused', () => {
    const run = deploy(['--env', 'dev', '--account-id', '210987654321', '--steps', 'registry']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--account-id 210987654321 differs from the account of your credentials \(123456789012\)/);
  });
});

describe('scripts/deploy.sh against stand-in AWS tools', () => {
  test('a full run deploys in order and pins the pipeline to the pushed digest', () => {
    const run = deploy(['--env', 'dev', '--auto-approve']);
    expect(run.status).toBe(0);
    expectInOrder(run.calls, [
      /^aws sts get-caller-identity/,
      /^npx cdktf deploy state-bootstrap --auto-approve$/,
      /^npx cdktf deploy registry-dev --auto-approve$/,
      /^docker login --username AWS --password-stdin 123456789012\.dkr\.ecr\.eu-central-2\.amazonaws\.com$/,
      /^docker build --platform linux\/amd64/,
      /^docker push 123456789012\.dkr\.ecr\.eu-central-2\.amazonaws\.com\/vitals-processor-dev:manual$/,
      /^npx cdktf deploy pipeline-dev --auto-approve$/,
      new RegExp(`^  \\(TF_VAR_processor_image=${IMAGE.replace(/[.]/g, '[.]')} TF_VAR_account_id=123456789012 ENVIRONMENT=dev\\)$`),
      /^aws ecs run-task --cluster vitals-dev --task-definition arn:aws:ecs:eu-central-2:123456789012:task-definition\/vitals-migrate-dev:3 --launch-type FARGATE .*subnets=\[subnet-a,subnet-b,subnet-c\],securityGroups=\[sg-processor\],assignPublicIp=DISABLED/,
      /^aws ecs wait tasks-stopped --cluster vitals-dev --tasks arn:aws:ecs:.*task\/vitals-dev\/0123456789abcdef$/,
      /^aws ecs describe-tasks .*exitCode/,
      /^aws ecs describe-services .*rolloutState/,
      /^aws ecs wait services-stable --cluster vitals-dev --services vitals-processor-dev$/,
    ]);
    expect(run.calls.some((c) => c.startsWith('aws ecs update-service'))).toBe(false);
    expect(run.stderr).toMatch(/service vitals-processor-dev: 2\/2 tasks running/);
  });

  test('a failed migration stops the deploy with its exit code and where its logs are', () => {
    const run = deploy(['--env', 'dev', '--steps', 'migrate,verify'], { env: { FAKE_MIGRATION_EXIT: '1' } });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/migrations failed \(container exit code '1'.*aws logs tail \/ecs\/vitals-processor-dev --log-stream-names migrate\/migrate\/0123456789abcdef/);
    expect(run.calls.some((c) => c.includes('services-stable'))).toBe(false);
  });

  test('a rollout stopped by the circuit breaker before the migrations is redeployed after them', () => {
    const run = deploy(['--env', 'dev', '--steps', 'migrate,verify'], { env: { FAKE_ROLLOUT: 'FAILED' } });
    expect(run.status).toBe(0);
    expectInOrder(run.calls, [
      /^aws ecs run-task /,
      /^aws ecs update-service --cluster vitals-dev --service vitals-processor-dev --force-new-deployment$/,
      /^aws ecs wait services-stable /,
    ]);
  });

  test('an image tag already in the (immutable) repository is reused, not rebuilt', () => {
    const box = sandbox();
    writeFileSync(join(box.state, 'pushed'), '');
    const result = spawnSync('/bin/bash', [join(box.repo, 'scripts', 'deploy.sh'), '--env', 'dev', '--steps', 'image'], {
      cwd: box.repo,
      encoding: 'utf8',
      env: { ...baseEnv(box), GITHUB_OUTPUT: join(box.state, 'github-output') },
    });
    expect(result.status).toBe(0);
    const calls = readFileSync(box.calls, 'utf8');
    expect(calls).not.toMatch(/docker build/);
    expect(result.stderr).toMatch(/already in vitals-processor-dev/);
    expect(readFileSync(join(box.state, 'github-output'), 'utf8')).toBe(`processor_image=${IMAGE}\n`);
  });

  test('the image step fails clearly when there is no Dockerfile', () => {
    const run = deploy(['--env', 'dev', '--steps', 'image', '--dockerfile', 'missing/Dockerfile']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/no missing\/Dockerfile in .*: the image step builds the processor image from it/);
  });
});

describe('scripts/deploy.sh --emulator (the deploy rehearsal)', () => {
  const CA = { 'emulator-ca.pem': '-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----\n' };
  const EMULATOR = ['--emulator', 'https://127.0.0.1:4566', '--emulator-ca', 'emulator-ca.pem'];
  const IMAGE_ID = `sha256:${'c'.repeat(64)}`;
  const imageScript = (body: string): Record<string, string> => ({ ...CA, 'scripts/image.sh': `echo "image.sh $*" >> "$CALLS"\n${body}\n` });

  test('refuses an emulator endpoint that is not https on loopback', () => {
    for (const endpoint of ['https://10.0.0.5:4566', 'http://127.0.0.1:4566', 'https://sts.amazonaws.com']) {
      const run = deploy(['--env', 'dev', '--dry-run', '--emulator', endpoint, '--emulator-ca', 'emulator-ca.pem'], { stubs: [], files: CA });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/--emulator must be an https URL of an emulator on loopback/);
    }
  });

  test('refuses --emulator without the CA bundle that verifies it', () => {
    const run = deploy(['--env', 'dev', '--dry-run', '--emulator', 'https://127.0.0.1:4566'], { stubs: [] });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--emulator needs --emulator-ca/);
  });

  test('refuses a real deploy while the cdktf app would synthesize for an emulator', () => {
    const run = deploy(['--env', 'dev', '--dry-run'], { stubs: [], env: { REHEARSAL_ENDPOINT: 'https://127.0.0.1:4566' } });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/REHEARSAL_ENDPOINT is set .* but --emulator is not/);
  });

  test('runs the same sequence with a local image and no push, and says migrate and verify are skipped', () => {
    const run = deploy(['--env', 'dev', ...EMULATOR, '--auto-approve'], { files: imageScript(`echo "building" ; echo "image_id=${IMAGE_ID}"`) });
    // stderr in the comparison, so a failure shows why
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
    expectInOrder(run.calls, [
      /^aws sts get-caller-identity --region eu-central-2 /,
      /^npx cdktf deploy state-bootstrap --auto-approve$/,
      /^npx cdktf deploy registry-dev --auto-approve$/,
      /^terraform -chdir=cdktf.out\/stacks\/registry-dev output -raw ecr_repository_url$/,
      /^image\.sh build$/,
      /^npx cdktf deploy pipeline-dev --auto-approve$/,
      new RegExp(`TF_VAR_processor_image=${ACCOUNT}\\.dkr\\.ecr\\.eu-central-2\\.amazonaws\\.com/vitals-processor-dev@${IMAGE_ID} `),
    ]);
    expect(run.calls.filter((c) => /^docker |ecr get-login-password|ecr describe-images|^aws ecs /.test(c))).toEqual([]);
    expect(run.stderr).toMatch(/push to .*vitals-processor-dev is SKIPPED against the emulator/);
    expect(run.stderr).toMatch(/LOCAL IMAGE ID, not a registry manifest digest/);
    expect(run.stderr).toMatch(/SKIPPED against the emulator: step migrate/);
    expect(run.stderr).toMatch(/SKIPPED against the emulator: step verify/);
  });

  test('without a Docker daemon (image.sh exit 3) the pipeline gets a synthetic digest, announced loudly', () => {
    const run = deploy(['--env', 'dev', ...EMULATOR, '--auto-approve'], { files: imageScript('echo "SKIPPED: no Docker daemon"; exit 3') });
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/SYNTHETIC IMAGE DIGEST: no image was built/);
    expect(run.calls.join('\n')).toMatch(new RegExp(`TF_VAR_processor_image=${ACCOUNT}\\.dkr\\.ecr\\.eu-central-2\\.amazonaws\\.com/vitals-processor-dev@sha256:0{63}1 `));
  });

  test('a failing image build stops the rehearsal before the pipeline', () => {
    const run = deploy(['--env', 'dev', ...EMULATOR, '--auto-approve'], { files: imageScript('echo "build broke" >&2; exit 1') });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/scripts\/image.sh build failed \(exit 1\)/);
    expect(run.calls.filter((c) => c.includes('deploy pipeline-dev'))).toEqual([]);
  });

  test('an image build that does not end with the image id is refused', () => {
    const run = deploy(['--env', 'dev', ...EMULATOR, '--auto-approve'], { files: imageScript('echo "image_id=latest"') });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/did not end with image_id=sha256:<64 hex>/);
  });

  test('--tf-log-dir gives each stack its own terraform debug log', () => {
    const run = deploy(['--env', 'dev', '--dry-run', '--account-id', ACCOUNT, '--tf-log-dir', 'logs', '--steps', 'registry'], { stubs: [] });
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/^\+ env TF_LOG=debug TF_LOG_PATH=\/.*\/logs\/registry-dev-apply\.log npx cdktf deploy registry-dev$/m);
  });
});
