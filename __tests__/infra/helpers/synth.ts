/** Synthesis helpers for the infrastructure construct and stack tests. */
import { Construct } from 'constructs';
import { Testing } from 'cdktf';
import { AppConfig, loadConfig, SettingsSource } from '../../../src/infra/config';

export const ACCOUNT_ID = '123456789012';
export const REGION = 'eu-central-2';
export const KEY_ARN = (name: string): string => `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${name}`;

export interface SynthJson {
  resource?: Record<string, Record<string, Record<string, unknown>>>;
  data?: Record<string, Record<string, Record<string, unknown>>>;
  output?: Record<string, { value: unknown }>;
  variable?: Record<string, Record<string, unknown>>;
  provider?: Record<string, Record<string, unknown>[]>;
  terraform?: Record<string, unknown>;
}

/** Synthesizes what `build` adds to a scope and returns the parsed Terraform JSON. */
export function synthConstruct(build: (scope: Construct) => void): SynthJson {
  return JSON.parse(Testing.synthScope(build)) as SynthJson;
}

/** Every resource (or data source) of a Terraform type, as its configuration. */
export function ofType(json: SynthJson, type: string, kind: 'resource' | 'data' = 'resource'): Record<string, unknown>[] {
  return Object.values(json[kind]?.[type] ?? {});
}

/** A custom domain for the REST API: production requires one unless the default endpoint is accepted (API_EXECUTE_API_ENDPOINT). */
export const testApiDomain = (environment: string): SettingsSource => ({
  API_DOMAIN_NAME: `vitals-api-${environment}.example.org`,
  API_CERTIFICATE_ARN: `arn:aws:acm:${REGION}:${ACCOUNT_ID}:certificate/0a1b2c3d-0000-4000-8000-${'0'.repeat(12)}`,
});

/**
 * A configuration from settings (defaults for everything not given). A production environment given
 * no API edge settings gets {@link testApiDomain}, as a real one must (config.ts).
 */
export function testConfig(settings: SettingsSource = {}): AppConfig {
  const environment = settings.ENVIRONMENT ?? 'dev';
  const nonProduction = (settings.NON_PRODUCTION_ENVIRONMENTS ?? 'dev,test').split(',').map((e) => e.trim());
  const apiEdgeGiven = settings.API_DOMAIN_NAME !== undefined || settings.API_EXECUTE_API_ENDPOINT !== undefined;
  return loadConfig(nonProduction.includes(environment) || apiEdgeGiven ? settings : { ...testApiDomain(environment), ...settings });
}

interface Statement { effect?: string; actions?: string[]; not_actions?: string[] }

/** Every action an Allow statement grants, across all aws_iam_policy_document data sources. */
export function allowedActions(json: SynthJson): string[] {
  return ofType(json, 'aws_iam_policy_document', 'data')
    .flatMap((doc) => (doc.statement as Statement[] | undefined) ?? [])
    .filter((s) => (s.effect ?? 'Allow') === 'Allow')
    .flatMap((s) => s.actions ?? []);
}
