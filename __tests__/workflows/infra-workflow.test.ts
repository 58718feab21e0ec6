/**
 * .github/workflows: the job graph a user's CI runs (it cannot run here, so it is checked statically:
 * triggers, needs, permissions, OIDC, environment gates, commands, pinned actions, no stored keys).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { load } from 'js-yaml';
import { SETTINGS } from '../../src/infra/config';

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  name?: string;
  needs?: string | string[];
  if?: string;
  permissions?: Record<string, string>;
  environment?: string;
  uses?: string;
  with?: Record<string, unknown>;
  steps?: Step[];
  strategy?: { matrix?: Record<string, unknown> };
  env?: Record<string, string>;
  'timeout-minutes'?: number;
}
interface Workflow {
  on: Record<string, { branches?: string[]; inputs?: Record<string, { type?: string; required?: boolean; options?: string[] }> } | null>;
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const ROOT = resolve(__dirname, '../..');
const read = (path: string): string => readFileSync(resolve(ROOT, path), 'utf8');
const INFRA_TEXT = read('.github/workflows/infra.yml');
const DEPLOY_TEXT = read('.github/workflows/deploy.yml');
const infra = load(INFRA_TEXT) as Workflow;
const deploy = load(DEPLOY_TEXT) as Workflow;
const needsOf = (job: Job): string[] => (job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs]);
const runs = (job: Job): string[] => (job.steps ?? []).flatMap((s) => (s.run ? [s.run] : []));
const stepUsing = (job: Job, action: string): Step | undefined => (job.steps ?? []).find((s) => s.uses?.startsWith(`${action}@`));

describe('infra workflow triggers and defaults', () => {
  test('runs on pull requests to main, pushes to main and manual dispatch', () => {
    expect(infra.on.pull_request?.branches).toEqual(['main']);
    expect(infra.on.push?.branches).toEqual(['main']);
    expect(infra.on.workflow_dispatch?.inputs?.environment?.options).toEqual(['dev', 'prod']);
  });

  test('grants only read access to the repository by default', () => {
    expect(infra.permissions).toEqual({ contents: 'read' });
    expect(deploy.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
  });

  test('has the test, diff and per-environment deploy jobs', () => {
    expect(Object.keys(infra.jobs).sort()).toEqual(['deploy-dev', 'deploy-prod', 'diff', 'test']);
  });
});

describe('test job', () => {
  const job = infra.jobs.test;

  test('installs with npm ci on Node 20 with the npm cache', () => {
    expect(stepUsing(job, 'actions/checkout')).toBeDefined();
    expect(stepUsing(job, 'actions/setup-node')?.with).toEqual({ 'node-version': 20, cache: 'npm' });
    expect(runs(job)).toContain('npm ci');
  });

  test('runs the README\'s test command and synth', () => {
    const readme = read('README.md');
    expect(readme).toMatch(/^npm test\b/m);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.test).toBeDefined();
    expect(runs(job)).toEqual(['npm ci', 'npm test', 'npx cdktf synth']);
  });

  test('needs no AWS access', () => {
    expect(job.permissions).toBeUndefined();
    expect(stepUsing(job, 'aws-actions/configure-aws-credentials')).toBeUndefined();
  });
});

describe('diff job', () => {
  const job = infra.jobs.diff;

  test('runs after the tests, on same-repository pull requests only (forks get no id token)', () => {
    expect(needsOf(job)).toEqual(['test']);
    expect(job.if).toContain("github.event_name == 'pull_request'");
    expect(job.if).toContain('github.event.pull_request.head.repo.full_name == github.repository');
  });

  test('may request an OIDC token and comment on the pull request, nothing more', () => {
    expect(job.permissions).toEqual({ contents: 'read', 'id-token': 'write', 'pull-requests': 'write' });
  });

  test('has no GitHub environment (its token subject is the pull request, which the read-only role trusts)', () => {
    expect(job.environment).toBeUndefined();
  });

  test('assumes the read-only diff role from a repository variable', () => {
    const step = stepUsing(job, 'aws-actions/configure-aws-credentials');
    expect(step?.with?.['role-to-assume']).toBe('${{ vars.AWS_DIFF_ROLE_ARN }}');
    expect(step?.with?.['aws-region']).toBeDefined();
  });

  test('diffs the pipeline stack of each target environment, dev by default', () => {
    expect(job.strategy?.matrix?.environment).toBe(`\${{ fromJSON(vars.DIFF_ENVIRONMENTS || '["dev"]') }}`);
    expect(job.env?.ENVIRONMENT).toBe('${{ matrix.environment }}');
    const diff = (job.steps ?? []).find((s) => s.id === 'diff');
    expect(diff?.run).toMatch(/"pipeline-\$ENVIRONMENT"/);
    expect(diff?.run).toMatch(/npx cdktf diff "\$stack"/);
  });

  test('plans with the account and the processor image the environment runs', () => {
    expect(infra.env?.TF_VAR_account_id).toBe('${{ vars.AWS_ACCOUNT_ID }}');
    const diff = (job.steps ?? []).find((s) => s.id === 'diff');
    expect(diff?.env?.TF_VAR_processor_image).toBe('${{ steps.image.outputs.processor_image }}');
    expect((job.steps ?? []).some((s) => s.id === 'image')).toBe(true);
  });

  test('posts the diff summary to the pull request, even when the diff failed', () => {
    const post = stepUsing(job, 'actions/github-script');
    expect(post?.if).toMatch(/always\(\)/);
    const script = String(post?.with?.script);
    expect(script).toContain('createComment');
    expect(script).toContain('updateComment');
    expect(script).toMatch(/Plan: \\d\+ to add/);
  });

  test('orders credentials before the diff and the comment after it', () => {
    const names = (job.steps ?? []).map((s) => s.id ?? s.uses?.split('@')[0] ?? s.name);
    const at = (name: string): number => names.indexOf(name);
    expect(at('aws-actions/configure-aws-credentials')).toBeLessThan(at('image'));
    expect(at('image')).toBeLessThan(at('diff'));
    expect(at('diff')).toBeLessThan(at('actions/github-script'));
  });
});

describe('deploy jobs', () => {
  test('dev deploys after the tests; prod after dev (or alone when dispatched for prod)', () => {
    expect(needsOf(infra.jobs['deploy-dev'])).toEqual(['test']);
    expect(needsOf(infra.jobs['deploy-prod'])).toEqual(['test', 'deploy-dev']);
    expect(infra.jobs['deploy-prod'].if).toContain("needs.deploy-dev.result == 'success'");
    expect(infra.jobs['deploy-prod'].if).toContain("inputs.environment == 'prod'");
  });

  test('deploys run on pushes to main or dispatch, never on pull requests', () => {
    for (const id of ['deploy-dev', 'deploy-prod']) {
      expect(infra.jobs[id].if).not.toContain('pull_request');
      expect(infra.jobs[id].if).toMatch(/github.event_name == 'push'/);
    }
  });

  test('each deploy calls the reusable deploy workflow with its environment and grants it an OIDC token', () => {
    for (const env of ['dev', 'prod']) {
      const job = infra.jobs[`deploy-${env}`];
      expect(job.uses).toBe('./.github/workflows/deploy.yml');
      expect(job.with).toEqual({ environment: env });
      expect(job.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    }
  });

  test('the inputs passed match what the reusable workflow declares', () => {
    const declared = deploy.on.workflow_call?.inputs ?? {};
    for (const id of ['deploy-dev', 'deploy-prod']) {
      for (const key of Object.keys(infra.jobs[id].with ?? {})) expect(Object.keys(declared)).toContain(key);
    }
    for (const [key, input] of Object.entries(declared)) {
      if (input.required) for (const id of ['deploy-dev', 'deploy-prod']) expect(infra.jobs[id].with).toHaveProperty(key);
    }
  });

  const job = deploy.jobs.deploy;

  test('runs inside the GitHub environment of the same name (its reviewers approve the deploy)', () => {
    expect(job.environment).toBe('${{ inputs.environment }}');
    expect(job.env?.ENVIRONMENT).toBe('${{ inputs.environment }}');
  });

  test('assumes the environment\'s deploy role from an environment variable', () => {
    expect(stepUsing(job, 'aws-actions/configure-aws-credentials')?.with?.['role-to-assume']).toBe('${{ vars.AWS_DEPLOY_ROLE_ARN }}');
  });

  test('never runs two deploys of one environment at once', () => {
    expect((job as Job & { concurrency?: { group: string; 'cancel-in-progress': boolean } }).concurrency).toEqual({
      group: 'deploy-${{ inputs.environment }}',
      'cancel-in-progress': false,
    });
  });

  test('deploys registry, image, pipeline pinned to the image digest, then migrations and verification', () => {
    const steps = (job.steps ?? []).filter((s) => s.run && !s.name?.startsWith('Settings of this environment'));
    expect(steps.map((s) => s.run?.trim())).toEqual([
      'npm ci',
      'npx cdktf deploy "registry-$ENVIRONMENT" --auto-approve',
      'bash scripts/deploy.sh --env "$ENVIRONMENT" --region "$AWS_REGION" --steps image',
      'npx cdktf deploy "pipeline-$ENVIRONMENT" --auto-approve',
      'bash scripts/deploy.sh --env "$ENVIRONMENT" --region "$AWS_REGION" --steps migrate,verify',
    ]);
    const image = steps.find((s) => s.run?.includes('--steps image'));
    const pipeline = steps.find((s) => s.run?.includes('pipeline-$ENVIRONMENT'));
    expect(pipeline?.env?.TF_VAR_processor_image).toBe(`\${{ steps.${image?.id}.outputs.processor_image }}`);
  });

  test('never deploys the state bootstrap (it holds the CI roles themselves)', () => {
    expect(DEPLOY_TEXT).not.toMatch(/deploy[^\n]*state-bootstrap/);
    expect(INFRA_TEXT).not.toMatch(/cdktf deploy[^\n]*state-bootstrap/);
  });
});

describe('per-environment settings (repository variable PIPELINE_SETTINGS)', () => {
  const settingsStep = (job: Job): Step | undefined => (job.steps ?? []).find((s) => s.name?.startsWith('Settings of this environment'));
  const diffStep = settingsStep(infra.jobs.diff);
  const deployStep = settingsStep(deploy.jobs.deploy);

  /** Runs the step's script as Actions would, returning what it appends to GITHUB_ENV. */
  function runSettings(step: Step, environment: string, settings: unknown): { status: number | null; env: string; stderr: string } {
    const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'settings-'));
    const githubEnv = join(dir, 'github-env');
    writeFileSync(githubEnv, '');
    const result = spawnSync('/bin/bash', ['-e', '-c', step.run ?? ''], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ENVIRONMENT: environment, GITHUB_ENV: githubEnv, PIPELINE_SETTINGS: settings === undefined ? '' : JSON.stringify(settings) },
    });
    const env = readFileSync(githubEnv, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    return { status: result.status, env, stderr: result.stderr };
  }

  test('the diff and the deploy read the same settings the same way, before any cdktf command', () => {
    expect(diffStep?.run).toBe(deployStep?.run);
    for (const job of [infra.jobs.diff, deploy.jobs.deploy]) {
      const steps = job.steps ?? [];
      const settingsAt = steps.findIndex((s) => s === settingsStep(job));
      const firstCdktf = steps.findIndex((s) => s.run?.includes('cdktf') || s.run?.includes('deploy.sh'));
      expect(settingsAt).toBeGreaterThanOrEqual(0);
      expect(settingsAt).toBeLessThan(firstCdktf);
    }
  });

  test('exports the chosen environment\'s settings only', () => {
    const run = runSettings(deployStep!, 'prod', { dev: { SHARD_COUNT: '1' }, prod: { SHARD_COUNT: '8', ALARM_EMAILS: 'oncall@example.org' } });
    expect(run.status).toBe(0);
    expect(run.env).toBe('SHARD_COUNT=8\nALARM_EMAILS=oncall@example.org\n');
  });

  test('exports nothing when the variable is unset (the config defaults apply)', () => {
    const run = runSettings(deployStep!, 'dev', undefined);
    expect(run.status).toBe(0);
    expect(run.env).toBe('');
  });

  test('refuses names that are not per-environment settings, so the variable cannot redirect credentials or state', () => {
    for (const name of ['AWS_REGION', 'TF_VAR_account_id', 'STATE_BUCKET', 'ENVIRONMENT']) {
      const run = runSettings(deployStep!, 'dev', { dev: { [name]: 'x' } });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(`PIPELINE_SETTINGS.dev.${name} is not a per-environment setting`);
    }
  });

  test('refuses multi-line values (they would inject further variables)', () => {
    const run = runSettings(deployStep!, 'dev', { dev: { ALARM_EMAILS: 'a@example.org\nAWS_REGION=us-east-1' } });
    expect(run.status).not.toBe(0);
    expect(run.env).toBe('');
  });

  test('every allowed name is a setting the app reads', () => {
    const allowed = JSON.parse(/const allowed = (\[[^\]]*\])/.exec(deployStep?.run ?? '')?.[1].replace(/\s+/g, ' ') ?? '[]') as string[];
    expect(allowed.length).toBeGreaterThan(5);
    for (const name of allowed) expect(Object.keys(SETTINGS)).toContain(name);
  });
});

describe('supply chain and secrets', () => {
  const allUses = [INFRA_TEXT, DEPLOY_TEXT].flatMap((text) => [...text.matchAll(/uses:\s*(\S+)/g)].map((m) => m[1]));

  test('every third-party action is pinned to a full version or a commit', () => {
    const external = allUses.filter((u) => !u.startsWith('./'));
    expect(external.length).toBeGreaterThan(0);
    for (const uses of external) expect(uses).toMatch(/@(v\d+\.\d+\.\d+|[0-9a-f]{40})$/);
  });

  test('no long-lived AWS credentials are referenced anywhere', () => {
    for (const text of [INFRA_TEXT, DEPLOY_TEXT]) {
      expect(text).not.toMatch(/secrets\./);
      expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN/);
    }
  });

  test('every job that runs steps has a time limit', () => {
    for (const wf of [infra, deploy]) {
      for (const job of Object.values(wf.jobs)) if (job.steps) expect(job['timeout-minutes']).toBeGreaterThan(0);
    }
  });

  test('only jobs that talk to AWS may request an OIDC token', () => {
    for (const [id, job] of Object.entries(infra.jobs)) {
      const talksToAws = job.uses !== undefined || stepUsing(job, 'aws-actions/configure-aws-credentials') !== undefined;
      if (job.permissions?.['id-token'] === 'write') expect({ id, talksToAws }).toEqual({ id, talksToAws: true });
    }
  });

  test('the runbook documents the variables the workflows read', () => {
    const runbook = read('docs/runbook.md');
    const used = new Set([INFRA_TEXT, DEPLOY_TEXT].flatMap((text) => [...text.matchAll(/vars\.([A-Z_]+)/g)].map((m) => m[1])));
    for (const name of used) expect(runbook).toContain(name);
  });
});
