/**
 * Command line for scripts outside jest:
 *   export-policies STACKS_DIR OUT_DIR   every policy document of the synthesized stacks (cdk.tf.json
 *                                        under STACKS_DIR/<stack>/), references resolved, one JSON file
 *                                        each (`<stack>__<resource>.json`), for the IAM linter.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyDocument, TerraformJson } from './documents';
import { modelOf } from './model';

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

const [command, ...args] = process.argv.slice(2);
if (command === 'export-policies' && args.length === 2) exportPolicies(args[0], args[1]);
else {
  console.error(`usage: cli.ts export-policies STACKS_DIR OUT_DIR (received ${JSON.stringify(process.argv.slice(2))})`);
  process.exit(2);
}
