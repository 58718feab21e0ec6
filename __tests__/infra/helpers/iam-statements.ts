/**
 * Reads IAM statements out of a synthesized stack: every aws_iam_policy_document data source, and
 * the statements of the inline policy attached to a given role (followed by reference, not by
 * logical-id guessing).
 */
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { SynthesizedStack } from './compute-harness';

export interface Statement {
  sid?: string;
  effect?: string;
  actions?: string[];
  resources?: string[];
  principals?: Array<{ type: string; identifiers: string[] }>;
  condition?: Array<{ test: string; variable: string; values: string[] }>;
}

export function allPolicyDocuments(parsed: SynthesizedStack): Array<{ name: string; statement: Statement[] }> {
  const docs = parsed.data.aws_iam_policy_document ?? {};
  return Object.entries(docs).map(([name, doc]) => ({ name, statement: (doc.statement ?? []) as Statement[] }));
}

/** `${data.aws_iam_policy_document.X.json}` -> X */
function documentName(reference: unknown): string {
  const m = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(String(reference));
  if (!m) throw new Error(`not a policy document reference: ${String(reference)}`);
  return m[1];
}

/** Statements of every inline policy (aws_iam_role_policy) attached to the role. */
export function inlineStatementsOf(parsed: SynthesizedStack, role: IamRole): Statement[] {
  const id = role.friendlyUniqueId;
  const roleRefs = [`\${aws_iam_role.${id}.id}`, `\${aws_iam_role.${id}.name}`];
  const policies = Object.values(parsed.resource.aws_iam_role_policy ?? {}).filter((p) => roleRefs.includes(String(p.role)));
  if (policies.length === 0) throw new Error('role has no inline policy');
  return policies.flatMap((p) => (parsed.data.aws_iam_policy_document[documentName(p.policy)].statement ?? []) as Statement[]);
}

/** The trust (assume-role) statements of a role. */
export function trustStatementsOf(parsed: SynthesizedStack, role: IamRole): Statement[] {
  const synthesized = parsed.resource.aws_iam_role[role.friendlyUniqueId];
  return (parsed.data.aws_iam_policy_document[documentName(synthesized.assume_role_policy)].statement ?? []) as Statement[];
}

export function bySid(statements: Statement[], sid: string): Statement {
  const found = statements.filter((s) => s.sid === sid);
  if (found.length !== 1) throw new Error(`expected one statement with sid ${sid}, found ${found.length}`);
  return found[0];
}
