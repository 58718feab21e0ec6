/**
 * Command line for scripts outside jest:
 *   export-policies STACKS_DIR OUT_DIR   every policy document of the synthesized stacks (cdk.tf.json
 *                                        under STACKS_DIR/<stack>/), references resolved, one JSON file
 *                                        each (`<stack>__<resource>.json`), for the IAM linter.
 *   check-calls API_CALLS STACKS_DIR ENV STATE_JSON...
 *                                        every call the deploy rehearsal made (cdktf.out/rehearsal/
 *                                        api-calls.json) evaluated against the CI roles of STACKS_DIR
 *                                        (synthesized with CI_GITHUB_REPOSITORY set): apply and destroy
 *                                        of registry-ENV/pipeline-ENV as vitals-ci-deploy-ENV, diff as
 *                                        vitals-ci-diff. Resources carry ENV's tag (as ours do), creations
 *                                        request it, roles get ENV's boundary. Exits 1 when a call is denied.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyDocument, TerraformJson } from './documents';
import { modelOf } from './model';
import { PolicySimulator } from './simulate';
import { ATTACHABLE_MANAGED_POLICIES } from '../ci-deploy-role';
import { boundaryPolicyArn } from '../permissions-boundary';

/** Placeholder account for documents whose account is a Terraform variable. */
export const LINT_DEPLOYMENT = { accountId: '123456789012', region: process.env.AWS_REGION ?? 'eu-central-2', partition: 'aws' };

export function readStacks(stacksDir: string): Record<string, TerraformJson> {
  const stacks: Record<string, TerraformJson> = {};
  for (const name of readdirSync(stacksDir)) stacks[name] = JSON.parse(readFileSync(join(stacksDir, name, 'cdk.tf.json'), 'utf8')) as TerraformJson;
  return stacks;
}

/**
 * One-element condition value lists as scalars (the same policy to IAM): parliament 1.6.4 crashes on a
 * list where it reads a Bool/Null condition's value.
 */
function singleValues(doc: PolicyDocument): PolicyDocument {
  const statements = doc.Statement.map((s) => (s.Condition === undefined ? s : {
    ...s,
    Condition: Object.fromEntries(Object.entries(s.Condition).map(([op, kv]) => [op, Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, Array.isArray(v) && v.length === 1 ? v[0] as string : v]))])),
  }));
  return { ...doc, Statement: statements };
}

function exportPolicies(stacksDir: string, outDir: string): void {
  const model = modelOf(readStacks(stacksDir), LINT_DEPLOYMENT);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const names = Object.keys(model.allDocuments).sort();
  for (const name of names) writeFileSync(join(outDir, `${name.replace(/[^A-Za-z0-9_.-]+/g, '__')}.json`), `${JSON.stringify(singleValues(model.allDocuments[name]), null, 2)}\n`);
  console.log(`exported ${names.length} policy documents to ${outDir}`);
}

interface RecordedCall { readonly stack: string; readonly phase: 'apply' | 'diff' | 'destroy'; readonly action: string; readonly resource: string | null }
interface StateFile { values?: { root_module?: { resources?: Array<{ address: string; type: string; values: Record<string, unknown> }> } } }

async function checkCalls(callsFile: string, stacksDir: string, env: string, stateFiles: readonly string[]): Promise<number> {
  const deployment = { ...LINT_DEPLOYMENT };
  const model = modelOf(readStacks(stacksDir), deployment);
  // Random ids (keys) differ between the emulator and the model: map the emulator's key ARNs to the
  // model's by Terraform address, so each call meets its key's policy.
  const keyArns = new Map<string, string>();
  for (const file of stateFiles) {
    const stack = file.replace(/^.*state-(.+)\.json$/, '$1');
    for (const r of (JSON.parse(readFileSync(file, 'utf8')) as StateFile).values?.root_module?.resources ?? []) {
      if (r.type === 'aws_kms_key') keyArns.set(String(r.values.arn), `arn:aws:kms:${deployment.region}:${deployment.accountId}:key/${stack}.${r.address.split('.')[1]}`);
    }
  }
  const sim = new PolicySimulator(model, deployment);
  const calls = JSON.parse(readFileSync(callsFile, 'utf8')) as RecordedCall[];
  const own = calls.filter((c) => c.stack === `registry-${env}` || c.stack === `pipeline-${env}`);
  // A first production deploy makes the same creations: the apply calls, renamed for prod, as the prod
  // deploy role (with its production denies), when the synthesized CI roles include one.
  const production = env !== 'prod' && model.roles['vitals-ci-deploy-prod'] !== undefined;
  const asProd = (text: string): string => text.replace(new RegExp(`-${env}(?=$|[-/:])`, 'g'), '-prod').replace(new RegExp(`/${env}(?=$|/)`, 'g'), '/prod');
  const ours: Array<RecordedCall & { env: string }> = [
    ...own.map((c) => ({ ...c, env })),
    ...(production ? own.filter((c) => c.phase === 'apply').map((c) => ({ ...c, env: 'prod', resource: c.resource === null || keyArns.has(c.resource) ? c.resource : asProd(c.resource) })) : []),
  ];
  const clusterArn = (e: string): string => `arn:aws:rds:${deployment.region}:${deployment.accountId}:cluster:vitals-${e}`;
  const outcomes = { allowed: 0, denied: new Map<string, number>(), unmodelled: new Map<string, number>() };
  const seen = new Map<string, 'allowed' | 'denied' | 'unmodelled'>();
  for (const call of ours) {
    const role = call.phase === 'diff' ? 'vitals-ci-diff' : `vitals-ci-deploy-${call.env}`;
    // The record names the SDK's service id for ELB v2; IAM's prefix is elasticloadbalancing.
    const action = call.action.replace(/^elasticloadbalancingv2:/, 'elasticloadbalancing:');
    const resource = call.resource === null ? '*' : keyArns.get(call.resource) ?? call.resource;
    const key = `${call.phase} ${role} ${action} ${resource}`;
    let result = seen.get(key);
    if (result === undefined) {
      const context = {
        'aws:ResourceTag/Environment': call.env, 'aws:RequestTag/Environment': call.env, 'aws:TagKeys': ['Environment'],
        'iam:PermissionsBoundary': boundaryPolicyArn('aws', deployment.accountId, 'vitals', call.env),
        'aws:ResourceTag/aws:rds:primaryDBClusterArn': clusterArn(call.env),
        // Which AWS managed policy an attachment names is not in the record: one the stacks attach.
        ...(action === 'iam:AttachRolePolicy' || action === 'iam:DetachRolePolicy' ? { 'iam:PolicyARN': `arn:aws:iam::aws:policy/${ATTACHABLE_MANAGED_POLICIES[0]}` } : {}),
      };
      let outcome = await sim.evaluate(role, { action, resource, context });
      // List/describe calls authorise on "*" whatever the record attributes them to; an API Gateway
      // POST to a collection (/restapis/x/deployments) on the collection's child.
      if (outcome.errors?.includes('must.use.wildcard')) outcome = await sim.evaluate(role, { action, resource: '*', context });
      else if (outcome.errors?.includes('no.resource.types') && resource.includes(':apigateway:')) outcome = await sim.evaluate(role, { action, resource: `${resource}/new`, context });
      // Otherwise a refused request means the record attributed the call to a resource of another
      // type (a dashboard body naming an alarm): reported, not judged.
      result = outcome.errors ? 'unmodelled' : outcome.decision === 'Allowed' ? 'allowed' : 'denied';
      seen.set(key, result);
    }
    if (result === 'allowed') outcomes.allowed += 1;
    else outcomes[result].set(key, (outcomes[result].get(key) ?? 0) + 1);
  }
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  for (const [what, n] of [...outcomes.unmodelled.entries()].sort()) console.log(`not evaluated (resource of another type in the record) ${what}${n > 1 ? ` (x${n})` : ''}`);
  for (const [what, n] of [...outcomes.denied.entries()].sort()) console.log(`DENIED ${what}${n > 1 ? ` (x${n})` : ''}`);
  console.log(`deploy-role calls: ${ours.length} calls of registry-${env} and pipeline-${env} (apply and destroy as vitals-ci-deploy-${env}, diff as vitals-ci-diff${production ? ', apply again as vitals-ci-deploy-prod' : ''}): `
    + `${outcomes.allowed} allowed, ${total(outcomes.denied)} denied, ${total(outcomes.unmodelled)} not evaluated`);
  return total(outcomes.denied) === 0 ? 0 : 1;
}

const [command, ...args] = process.argv.slice(2);
if (command === 'export-policies' && args.length === 2) exportPolicies(args[0], args[1]);
else if (command === 'check-calls' && args.length >= 3) void checkCalls(args[0], args[1], args[2], args.slice(3)).then((rc) => { process.exitCode = rc; });
else {
  console.error(`usage: cli.ts export-policies STACKS_DIR OUT_DIR | check-calls API_CALLS STACKS_DIR ENV STATE_JSON... (received ${JSON.stringify(process.argv.slice(2))})`);
  process.exit(2);
}
