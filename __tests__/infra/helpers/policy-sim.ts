/**
 * The synthesized stacks of one account as a policy-simulation model: the bootstrap (state backend,
 * boundaries, CI roles for dev and prod), and registry + pipeline of dev and prod. Built once per test
 * file; add assertions with `simulator()` (src/infra/policy-sim).
 */
import { join } from 'node:path';
import { App, Testing } from 'cdktf';
import { BootstrapStack } from '../../../src/infra/bootstrap-stack';
import { loadConfig, SettingsSource } from '../../../src/infra/config';
import { PipelineStack } from '../../../src/infra/pipeline-stack';
import { RegistryStack } from '../../../src/infra/registry-stack';
import { TerraformJson } from '../../../src/infra/policy-sim/documents';
import { modelOf, StackModel } from '../../../src/infra/policy-sim/model';
import { PolicySimulator } from '../../../src/infra/policy-sim/simulate';
import { ACCOUNT_ID, REGION } from './synth';

export const DEPLOYMENT = { accountId: ACCOUNT_ID, region: REGION, partition: 'aws' } as const;
export const CI_SETTINGS: SettingsSource = { CI_GITHUB_REPOSITORY: 'example-org/vitals-pipeline', CI_ENVIRONMENTS: 'dev,prod' };
/** Where suites write their assertion counts (scripts/policy-sim-summary.js reads them). */
export const COUNTS_DIR = join(__dirname, '..', '..', '..', '.tmp', 'policy-sim');

let cached: StackModel | undefined;

/** Bootstrap + registry-<env> + pipeline-<env> for dev and prod, as one model. */
export function accountModel(settings: SettingsSource = {}): StackModel {
  if (cached && Object.keys(settings).length === 0) return cached;
  const stacks: Record<string, TerraformJson> = {};
  const synth = (build: (app: App) => { toString(): string } & object, name: string): void => {
    const app = Testing.app();
    stacks[name] = JSON.parse(Testing.synth(build(app) as never)) as TerraformJson;
  };
  for (const env of ['dev', 'prod']) {
    const config = loadConfig({ ...CI_SETTINGS, ...settings, ENVIRONMENT: env });
    if (env === 'dev') synth((app) => new BootstrapStack(app, config), 'state-bootstrap');
    synth((app) => new RegistryStack(app, config), `registry-${env}`);
    synth((app) => new PipelineStack(app, config), `pipeline-${env}`);
  }
  const model = modelOf(stacks, DEPLOYMENT);
  if (Object.keys(settings).length === 0) cached = model;
  return model;
}

export function simulator(settings: SettingsSource = {}): PolicySimulator {
  return new PolicySimulator(accountModel(settings), DEPLOYMENT);
}
