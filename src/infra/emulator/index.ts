/**
 * Emulator mode: the only place where a synthesized stack is changed for the deploy rehearsal
 * (scripts/rehearse.sh), which applies, diffs and destroys the stacks against an AWS API emulator
 * (moto server) on loopback. main.ts calls {@link useEmulator} only when REHEARSAL_ENDPOINT is set;
 * without it nothing here runs and a real synth is untouched (a test compares the output byte for
 * byte). Every change besides the endpoints is listed, with the emulator's reason, in
 * ./allowlist.json.
 */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { App, TerraformStack } from 'cdktf';
import allowlistJson from './allowlist.json';
import { ConfigError } from '../config';

export const EMULATOR_ENDPOINT_VARIABLE = 'REHEARSAL_ENDPOINT';
export const EMULATOR_CA_BUNDLE_VARIABLE = 'REHEARSAL_CA_BUNDLE';

/**
 * Where the state-bootstrap stack keeps its local state in emulator mode, relative to its stack
 * directory (cdktf.out/stacks/state-bootstrap): inside cdktf.out/rehearsal, never the project
 * directory's terraform.state-bootstrap.tfstate of a real deployment.
 */
export const EMULATOR_BOOTSTRAP_STATE_PATH = '../../rehearsal/terraform.state-bootstrap.tfstate';

/** Provider `endpoints` keys pointed at the emulator: every service the stacks call. */
export const EMULATOR_PROVIDER_SERVICES = [
  'apigateway', 'applicationautoscaling', 'backup', 'cloudtrail', 'cloudwatch', 'dynamodb', 'ec2', 'ecr',
  'ecs', 'iam', 'kinesis', 'kms', 'logs', 'rds', 's3', 'secretsmanager', 'sns', 'sts', 'wafv2',
] as const;
/** S3 backend `endpoints` keys: the state bucket, the lock table and the credential check. */
export const EMULATOR_BACKEND_SERVICES = ['s3', 'dynamodb', 'sts', 'iam'] as const;

export interface EmulatorGap {
  readonly reason: string;
}
export interface SkippedResourceType extends EmulatorGap {
  readonly type: string;
}
export interface DroppedPolicyCondition extends EmulatorGap {
  /** Condition key (e.g. aws:SecureTransport) whose statements are left out of S3 bucket policies. */
  readonly key: string;
}
export interface DroppedAttribute extends EmulatorGap {
  readonly type: string;
  /** Top-level attribute left out of every resource of the type (the provider then takes its default). */
  readonly attribute: string;
}
export interface DriftEntry extends EmulatorGap {
  readonly type: string;
  /** Top-level attribute of the resource type that the emulator does not store or report as written. */
  readonly attribute: string;
}
export interface DestroyStateRemoval extends EmulatorGap {
  readonly type: string;
}
/** The one list of emulator gaps (./allowlist.json). */
export interface EmulatorAllowlist {
  readonly skippedResourceTypes: readonly SkippedResourceType[];
  readonly droppedPolicyConditions: readonly DroppedPolicyCondition[];
  readonly droppedAttributes: readonly DroppedAttribute[];
  readonly drift: readonly DriftEntry[];
  readonly destroyStateRemoval: readonly DestroyStateRemoval[];
}
export const EMULATOR_ALLOWLIST: EmulatorAllowlist = allowlistJson;

export interface EmulatorTarget {
  /** https URL of the emulator on loopback. */
  readonly endpoint: string;
  /** Absolute path of the PEM bundle that verifies the emulator's certificate. */
  readonly caBundle: string;
}

const LOOPBACK_HTTPS = /^https:\/\/(127(?:\.\d{1,3}){3}|localhost|\[::1\]):\d{1,5}$/;

/**
 * The emulator to synthesize for, from REHEARSAL_ENDPOINT and REHEARSAL_CA_BUNDLE; undefined when
 * REHEARSAL_ENDPOINT is not set (a real synth). Loopback https only, so emulator mode can never
 * point a deploy at anything but a local emulator.
 */
export function emulatorTargetFrom(env: Readonly<Record<string, string | undefined>>): EmulatorTarget | undefined {
  const endpoint = env[EMULATOR_ENDPOINT_VARIABLE]?.trim();
  if (endpoint === undefined || endpoint === '') return undefined;
  const caBundle = env[EMULATOR_CA_BUNDLE_VARIABLE]?.trim() ?? '';
  const problems: string[] = [];
  if (!LOOPBACK_HTTPS.test(endpoint)) {
    problems.push(`${EMULATOR_ENDPOINT_VARIABLE} must be an https URL of an emulator on loopback (https://127.0.0.1:<port>); received ${JSON.stringify(endpoint)}`);
  }
  if (!isAbsolute(caBundle) || !existsSync(caBundle)) {
    problems.push(`${EMULATOR_CA_BUNDLE_VARIABLE} must be the absolute path of an existing PEM file (the emulator's certificate); received ${JSON.stringify(caBundle)}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { endpoint, caBundle };
}

/** Points every stack of the app at the emulator: its synthesized JSON goes through {@link adjustForEmulator}. */
export function useEmulator(app: App, target: EmulatorTarget, allowlist: EmulatorAllowlist = EMULATOR_ALLOWLIST): void {
  for (const child of app.node.children) {
    if (!(child instanceof TerraformStack)) continue;
    const stack = child;
    const synthesize = stack.toTerraform.bind(stack);
    // toTerraform is what cdktf's synthesizer (and Testing.synth) serialises: adjusting its result
    // changes the written cdk.tf.json and nothing else.
    stack.toTerraform = (): ReturnType<TerraformStack['toTerraform']> => adjustForEmulator(synthesize(), target, allowlist);
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The stack JSON for the emulator (a pure function; the input is not modified): provider and S3
 * backend endpoints with the emulator's CA bundle and path-style S3 addressing, the bootstrap's
 * local state moved into cdktf.out/rehearsal, resources of skipped types removed along with the
 * list items and depends_on entries that name them, dropped attributes left out, and S3 bucket
 * policy statements conditioned on a dropped key left out.
 */
export function adjustForEmulator<T extends Json>(stackJson: T, target: EmulatorTarget, allowlist: EmulatorAllowlist = EMULATOR_ALLOWLIST): T {
  const json = structuredClone(stackJson) as Json;

  const providers = (isObject(json.provider) ? json.provider.aws : undefined) as Json[] | undefined;
  for (const provider of providers ?? []) {
    provider.endpoints = [Object.fromEntries(EMULATOR_PROVIDER_SERVICES.map((s) => [s, target.endpoint]))];
    provider.custom_ca_bundle = target.caBundle;
    provider.s3_use_path_style = true;
  }

  const backend = isObject(json.terraform) && isObject(json.terraform.backend) ? json.terraform.backend : undefined;
  if (backend !== undefined && isObject(backend.s3)) {
    backend.s3.endpoints = Object.fromEntries(EMULATOR_BACKEND_SERVICES.map((s) => [s, target.endpoint]));
    backend.s3.custom_ca_bundle = target.caBundle;
    backend.s3.use_path_style = true;
  }
  if (backend !== undefined && isObject(backend.local)) {
    backend.local.path = EMULATOR_BOOTSTRAP_STATE_PATH;
  }

  const resources = isObject(json.resource) ? json.resource : {};
  const skipped = allowlist.skippedResourceTypes.map((s) => s.type).filter((type) => type in resources);
  removeAddresses(json, skipped.flatMap((type) => Object.keys(resources[type] as Json).map((name) => `${type}.${name}`)));

  const remaining = isObject(json.resource) ? json.resource : {};
  for (const { type, attribute } of allowlist.droppedAttributes) {
    for (const resource of Object.values(isObject(remaining[type]) ? remaining[type] : {})) {
      if (isObject(resource)) delete resource[attribute];
    }
  }

  // A bucket policy left without statements is left out as a whole (S3 refuses an empty policy).
  const emptied = dropConditionedBucketPolicyStatements(json, allowlist.droppedPolicyConditions.map((c) => c.key));
  removeAddresses(json, emptied);
  return json as T;
}

/**
 * Removes resources and data sources (`type.name`, `data.type.name`) and the list items and
 * depends_on entries that name them; any other reference to them is an error (nothing here may
 * change a value silently).
 */
function removeAddresses(json: Json, addresses: readonly string[]): void {
  if (addresses.length === 0) return;
  for (const address of addresses) {
    const [section, type, name] = address.startsWith('data.') ? ['data', ...address.split('.').slice(1)] : ['resource', ...address.split('.')];
    const ofType = isObject(json[section]) ? (json[section] as Json)[type] : undefined;
    if (isObject(ofType)) {
      delete ofType[name];
      if (Object.keys(ofType).length === 0) delete (json[section] as Json)[type];
    }
  }
  const patterns = addresses.map((a) => new RegExp(`(^|[^A-Za-z0-9_.])${a.replace(/\./g, '\\.')}($|[^A-Za-z0-9_])`));
  const mentionsRemoved = (text: string): boolean => patterns.some((p) => p.test(text));
  for (const section of Object.keys(json)) {
    if (section === 'terraform' || section === 'provider' || section === '//') continue;
    json[section] = dropReferences(json[section], mentionsRemoved, section);
  }
}

function dropReferences(value: unknown, mentionsRemoved: (text: string) => boolean, path: string): unknown {
  if (Array.isArray(value)) {
    return value
      .filter((item) => !(typeof item === 'string' && mentionsRemoved(item)))
      .map((item, i) => dropReferences(item, mentionsRemoved, `${path}[${i}]`));
  }
  if (isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, dropReferences(v, mentionsRemoved, `${path}.${k}`)]));
  }
  if (typeof value === 'string' && mentionsRemoved(value)) {
    throw new Error(`emulator mode cannot remove the reference at ${path} (${value}): only list items can be dropped; extend src/infra/emulator`);
  }
  return value;
}

/**
 * Leaves statements with a condition on one of `keys` out of the policy documents that S3 bucket
 * policies use (found through the bucket policies' `policy` references). Returns the addresses of
 * the bucket policies (and their documents) left without any statement.
 */
function dropConditionedBucketPolicyStatements(json: Json, keys: readonly string[]): string[] {
  const emptied: string[] = [];
  const resources = isObject(json.resource) ? json.resource : {};
  const documents = isObject(json.data) && isObject(json.data.aws_iam_policy_document) ? json.data.aws_iam_policy_document : {};
  const bucketPolicies = isObject(resources.aws_s3_bucket_policy) ? resources.aws_s3_bucket_policy : {};
  for (const [name, policy] of Object.entries(bucketPolicies)) {
    const ref = isObject(policy) && typeof policy.policy === 'string' ? /^\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.json\}$/.exec(policy.policy) : null;
    const document = ref ? documents[ref[1]] : undefined;
    if (ref === null || !isObject(document) || !Array.isArray(document.statement)) continue;
    const kept = document.statement.filter((statement: unknown) => {
      const conditions = isObject(statement) && Array.isArray(statement.condition) ? statement.condition : [];
      return !conditions.some((c: unknown) => isObject(c) && typeof c.variable === 'string' && keys.includes(c.variable));
    });
    document.statement = kept;
    if (kept.length === 0) emptied.push(`aws_s3_bucket_policy.${name}`, `data.aws_iam_policy_document.${ref[1]}`);
  }
  return emptied;
}
