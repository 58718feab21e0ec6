/**
 * Emulator mode (src/infra/emulator): a real synth is byte-for-byte what it would be without the
 * module, and emulator mode changes exactly the listed set (endpoints, CA bundle, path-style S3, the
 * bootstrap's state path, the allowlisted resource types and bucket-policy statements), nothing else.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, Testing } from 'cdktf';
import { BootstrapStack } from '../../src/infra/bootstrap-stack';
import { ConfigError } from '../../src/infra/config';
import {
  adjustForEmulator, EMULATOR_ALLOWLIST, EMULATOR_BACKEND_SERVICES, EMULATOR_BOOTSTRAP_STATE_PATH, EMULATOR_PROVIDER_SERVICES,
  EmulatorTarget, emulatorTargetFrom, useEmulator,
} from '../../src/infra/emulator';
import { PipelineStack } from '../../src/infra/pipeline-stack';
import { RegistryStack } from '../../src/infra/registry-stack';
import { SynthJson, testConfig } from './helpers/synth';

const ROOT = resolve(__dirname, '../..');
// Inside the project, so the copy of main.ts below resolves cdktf from node_modules.
mkdirSync(join(ROOT, '.tmp'), { recursive: true });
const scratch = mkdtempSync(join(ROOT, '.tmp', 'emulator-test-'));
const CA = join(scratch, 'ca.pem');
writeFileSync(CA, '-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----\n');
const TARGET: EmulatorTarget = { endpoint: 'https://127.0.0.1:4566', caBundle: CA };
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

type Json = Record<string, unknown>;

/** Every leaf path whose value differs between two JSON documents ("a.b[2].c"), missing on either side included. */
function differingPaths(a: unknown, b: unknown, path = ''): string[] {
  const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null;
  if (!isObj(a) || !isObj(b) || Array.isArray(a) !== Array.isArray(b)) {
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) => differingPaths((a as Json)[k], (b as Json)[k], Array.isArray(a) ? `${path}[${k}]` : path === '' ? k : `${path}.${k}`));
}

function stacks(): { app: App; all: [BootstrapStack, RegistryStack, PipelineStack] } {
  const app = Testing.app();
  const config = testConfig();
  return { app, all: [new BootstrapStack(app, config), new RegistryStack(app, config), new PipelineStack(app, config)] };
}

describe('emulator target', () => {
  it('is absent when REHEARSAL_ENDPOINT is not set, as in every real deploy', () => {
    expect(emulatorTargetFrom({})).toBeUndefined();
    expect(emulatorTargetFrom({ REHEARSAL_ENDPOINT: '  ', REHEARSAL_CA_BUNDLE: CA })).toBeUndefined();
  });

  it('is a loopback https endpoint with an existing CA bundle', () => {
    expect(emulatorTargetFrom({ REHEARSAL_ENDPOINT: 'https://127.0.0.1:4566', REHEARSAL_CA_BUNDLE: CA })).toEqual(TARGET);
  });

  it('refuses anything but loopback https and a missing CA bundle, naming both problems at once', () => {
    const attempt = (): unknown => emulatorTargetFrom({ REHEARSAL_ENDPOINT: 'https://kinesis.eu-central-2.amazonaws.com', REHEARSAL_CA_BUNDLE: 'ca.pem' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/REHEARSAL_ENDPOINT must be an https URL of an emulator on loopback.*received "https:\/\/kinesis/s);
    expect(attempt).toThrow(/REHEARSAL_CA_BUNDLE must be the absolute path of an existing PEM file.*received "ca.pem"/s);
    expect(() => emulatorTargetFrom({ REHEARSAL_ENDPOINT: 'http://127.0.0.1:4566', REHEARSAL_CA_BUNDLE: CA })).toThrow(/loopback/);
  });
});

describe('real synth', () => {
  it('cdktf synth of main.ts without REHEARSAL_ENDPOINT is byte for byte the synth of the stacks alone', () => {
    // main.ts as built (with the emulator hook) against the same three stacks synthesized by a copy of
    // main.ts that has no emulator code at all.
    const out = join(scratch, 'real');
    const bare = join(scratch, 'bare');
    const plain = readFileSync(join(ROOT, 'main.ts'), 'utf8')
      .replace(/^import \{ emulatorTargetFrom, useEmulator \} from .*$/m, '')
      .replace(/^const emulator = .*$/m, '')
      .replace(/^if \(emulator !== undefined\).*$/m, '')
      .replace(/from '\.\/src\//g, `from '${ROOT}/src/`);
    expect(plain).not.toMatch(/useEmulator|emulatorTargetFrom|infra\/emulator/);
    const plainMain = join(scratch, 'main-without-emulator.ts');
    writeFileSync(plainMain, plain);
    const env = { ...process.env, REHEARSAL_ENDPOINT: '', REHEARSAL_CA_BUNDLE: '' };
    const run = (main: string, outdir: string): void => {
      const r = spawnSync('npx', ['ts-node', '--transpile-only', main], { cwd: ROOT, env: { ...env, CDKTF_OUTDIR: outdir }, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    };
    run(join(ROOT, 'main.ts'), out);
    run(plainMain, bare);
    const stackNames = readdirSync(join(out, 'stacks')).sort();
    expect(stackNames).toEqual(['pipeline-dev', 'registry-dev', 'state-bootstrap']);
    for (const name of stackNames) {
      const real = readFileSync(join(out, 'stacks', name, 'cdk.tf.json'));
      expect(real.equals(readFileSync(join(bare, 'stacks', name, 'cdk.tf.json')))).toBe(true);
      expect(real.toString()).not.toMatch(/custom_ca_bundle|s3_use_path_style|rehearsal/);
    }
  });
});

describe('emulator mode', () => {
  const { all } = stacks();
  const real = all.map((s) => JSON.parse(Testing.synth(s)) as SynthJson);
  const adjusted = real.map((json) => adjustForEmulator(json as Json, TARGET));
  const [bootstrap, registry, pipeline] = adjusted as SynthJson[];
  const skippedTypes = EMULATOR_ALLOWLIST.skippedResourceTypes.map((s) => s.type);

  it('points the provider of every stack at the emulator, with its CA bundle and path-style S3', () => {
    for (const json of adjusted as SynthJson[]) {
      const provider = json.provider?.aws[0] ?? {};
      expect(provider.endpoints).toEqual([Object.fromEntries(EMULATOR_PROVIDER_SERVICES.map((s) => [s, TARGET.endpoint]))]);
      expect(provider.custom_ca_bundle).toBe(CA);
      expect(provider.s3_use_path_style).toBe(true);
    }
  });

  it('keeps the S3 backend and its locking, pointed at the emulator', () => {
    for (const json of [registry, pipeline]) {
      const backend = (json.terraform?.backend as Record<string, Json>).s3;
      expect(backend).toMatchObject({ use_lockfile: true, dynamodb_table: 'vitals-tfstate-lock', encrypt: true, use_path_style: true, custom_ca_bundle: CA });
      expect(backend.endpoints).toEqual(Object.fromEntries(EMULATOR_BACKEND_SERVICES.map((s) => [s, TARGET.endpoint])));
    }
  });

  it('keeps the bootstrap state inside cdktf.out/rehearsal, away from a real terraform.state-bootstrap.tfstate', () => {
    expect(bootstrap.terraform?.backend).toEqual({ local: { path: EMULATOR_BOOTSTRAP_STATE_PATH } });
  });

  it('leaves out the allowlisted resource types and the alarm action that named the scaling policy', () => {
    for (const type of skippedTypes) expect(pipeline.resource?.[type]).toBeUndefined();
    const lagAlarm = Object.values(pipeline.resource?.aws_cloudwatch_metric_alarm ?? {}).find((a) => a.alarm_name === 'vitals-processor-lag-dev');
    expect(lagAlarm?.alarm_actions).toEqual([]);
    expect(JSON.stringify(pipeline)).not.toMatch(new RegExp(skippedTypes.join('|')));
  });

  it('drops only the aws:SecureTransport statements of bucket policies, keeping their other statements', () => {
    const auditPolicy = Object.entries(pipeline.data?.aws_iam_policy_document ?? {}).find(([name]) => name.startsWith('Audit_Bucket_PolicyDocument'));
    const statements = auditPolicy?.[1].statement as { sid?: string }[];
    expect(statements.length).toBeGreaterThan(0);
    expect(JSON.stringify(statements)).not.toMatch(/SecureTransport/);
    // The SNS topic policy is not a bucket policy: it keeps its TLS-only statement.
    expect(JSON.stringify(pipeline.resource?.aws_sns_topic_policy)).toMatch(/aws:SecureTransport/);
  });

  it('leaves out the allowlisted attributes, so the provider takes its default', () => {
    expect(EMULATOR_ALLOWLIST.droppedAttributes.length).toBeGreaterThan(0);
    for (const { type, attribute } of EMULATOR_ALLOWLIST.droppedAttributes) {
      const realResources = Object.values(real[2].resource?.[type] ?? {});
      expect(realResources.some((r) => attribute in r)).toBe(true);
      for (const r of Object.values(pipeline.resource?.[type] ?? {})) expect(r).not.toHaveProperty(attribute);
    }
  });

  it('leaves out a bucket policy with no statement left (the state bucket), rather than an empty policy', () => {
    // The state bucket's only statement is TLS-only: its policy goes; the access-log bucket keeps its log-delivery statement.
    expect(Object.keys(bootstrap.resource?.aws_s3_bucket_policy ?? {}).map((n) => n.replace(/_Policy_[0-9A-F]+$/, ''))).toEqual(['StateBackend_AccessLogBucket']);
    expect(Object.keys(bootstrap.data?.aws_iam_policy_document ?? {}).filter((n) => n.includes('Bucket_PolicyDocument')).map((n) => n.replace(/_PolicyDocument_[0-9A-F]+$/, ''))).toEqual(['StateBackend_AccessLogBucket']);
  });

  it('changes exactly the listed set and nothing else', () => {
    const allowed: RegExp[] = [
      /^provider\.aws\[0\]\.(endpoints|custom_ca_bundle|s3_use_path_style)(\.|\[|$)/,
      /^terraform\.backend\.s3\.(endpoints|custom_ca_bundle|use_path_style)(\.|$)/,
      /^terraform\.backend\.local\.path$/,
      ...skippedTypes.map((t) => new RegExp(`^resource\\.${t}$`)),
      // the alarm action naming a skipped scaling policy
      /^resource\.aws_cloudwatch_metric_alarm\.[A-Za-z0-9_]+\.alarm_actions\[0\]$/,
      // the deployment's depends_on entry naming the skipped REST API policy
      /^resource\.aws_api_gateway_deployment\.[A-Za-z0-9_]+\.depends_on\[\d+\]$/,
      // bucket policies and their documents, whose aws:SecureTransport statement goes
      /^data\.aws_iam_policy_document\.[A-Za-z0-9_]*Bucket_PolicyDocument[A-Za-z0-9_]*(\.statement\[\d+\].*)?$/,
      /^resource\.aws_s3_bucket_policy(\.[A-Za-z0-9_]+)?$/,
      ...EMULATOR_ALLOWLIST.droppedAttributes.map((d) => new RegExp(`^resource\\.${d.type}\\.[A-Za-z0-9_]+\\.${d.attribute}$`)),
    ];
    const used = new Set<RegExp>();
    real.forEach((json, i) => {
      for (const path of differingPaths(json, adjusted[i])) {
        const rule = allowed.find((r) => r.test(path));
        expect({ path, explained: rule !== undefined }).toEqual({ path, explained: true });
        if (rule) used.add(rule);
      }
    });
    // Every listed change happens (the list is not stale), and the removed statements are exactly
    // those conditioned on a listed key.
    expect(allowed.filter((r) => !used.has(r))).toEqual([]);
    const removedStatements = real.flatMap((json, i) => Object.entries(json.data?.aws_iam_policy_document ?? {}).flatMap(([name, doc]) => {
      const after = ((adjusted[i] as SynthJson).data?.aws_iam_policy_document?.[name]?.statement ?? []) as unknown[];
      return (doc.statement as unknown[]).filter((s) => !after.some((a) => JSON.stringify(a) === JSON.stringify(s)));
    }));
    expect(removedStatements.length).toBeGreaterThan(0);
    for (const s of removedStatements) {
      expect(JSON.stringify(s)).toMatch(new RegExp(EMULATOR_ALLOWLIST.droppedPolicyConditions.map((c) => c.key).join('|')));
    }
  });

  it('does not modify the JSON it is given', () => {
    const json = JSON.parse(Testing.synth(stacks().all[2])) as Json;
    const before = JSON.stringify(json);
    adjustForEmulator(json, TARGET);
    expect(JSON.stringify(json)).toBe(before);
  });

  it('is what useEmulator makes the app synthesize', () => {
    const { app, all: [, , stack] } = stacks();
    const expected = adjustForEmulator(JSON.parse(Testing.synth(stack)) as Json, TARGET);
    useEmulator(app, TARGET);
    expect(JSON.parse(Testing.synth(stack))).toEqual(expected);
  });

  it('refuses to drop a reference it cannot drop without changing a value', () => {
    const json = {
      resource: {
        aws_appautoscaling_target: { t: { resource_id: 'service/x/y' } },
        aws_cloudwatch_metric_alarm: { a: { alarm_description: 'scales ${aws_appautoscaling_target.t.resource_id}' } },
      },
    };
    expect(() => adjustForEmulator(json, TARGET)).toThrow(/cannot remove the reference at resource\.aws_cloudwatch_metric_alarm\.a\.alarm_description/);
  });
});

describe('allowlist', () => {
  it('gives every entry a reason', () => {
    const entries = [
      ...EMULATOR_ALLOWLIST.skippedResourceTypes, ...EMULATOR_ALLOWLIST.droppedPolicyConditions, ...EMULATOR_ALLOWLIST.droppedAttributes,
      ...EMULATOR_ALLOWLIST.drift, ...EMULATOR_ALLOWLIST.destroyStateRemoval,
    ];
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) expect(e.reason.length).toBeGreaterThan(20);
  });

  it('matches drift by resource type and attribute only, never by address', () => {
    for (const e of EMULATOR_ALLOWLIST.drift) {
      expect(Object.keys(e).sort()).toEqual(['attribute', 'reason', 'type']);
      expect(e.type).toMatch(/^aws_[a-z0-9_]+$/);
      expect(e.attribute).toMatch(/^[a-z0-9_]+$/);
    }
  });
});
