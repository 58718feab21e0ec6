/**
 * Evaluates requests against the synthesized policies with @cloud-copilot/iam-simulate: the role's
 * identity policies, its permissions boundary and the resource's policy (key, bucket, topic), as AWS
 * evaluates them (explicit Deny wins; a boundary caps; KMS needs its key policy). Assertions are
 * counted per role so the suite can report how many allowed and denied calls it proved.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Deployment, PolicyDocument, UNRESOLVED } from './documents';
import { RoleModel, StackModel } from './model';

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

export interface SimRequest {
  readonly action: string;
  readonly resource: string;
  /** Request context (aws:ResourceTag/..., aws:RequestTag/..., kms:ViaService, iam:PermissionsBoundary, ...). */
  readonly context?: Readonly<Record<string, string | readonly string[]>>;
  /**
   * The VPC endpoint the call goes through, as a key of the model's `endpointPolicies`
   * (`pipeline-dev/s3`): its policy is evaluated with the others, as AWS does for calls from the VPC.
   */
  readonly endpoint?: string;
  /** Account owning the resource (aws:ResourceAccount and the cross-account rules). @default the deployment's account */
  readonly resourceAccount?: string;
}

/** A principal that is not one of the stacks' roles: another account's caller, or a role with hypothetical grants. */
export interface ExternalPrincipal {
  readonly arn: string;
  /** @default the deployment's account */
  readonly accountId?: string;
  readonly identityPolicies: ReadonlyArray<{ readonly name: string; readonly policy: PolicyDocument }>;
}

export interface SimOutcome {
  readonly decision: Decision;
  /** Set when the simulator refused the input (an invalid policy or request). */
  readonly errors?: string;
}

/** The resource policy that protects `resource` (a key, a bucket or its objects, a topic). */
function resourcePolicyFor(model: StackModel, resource: string): PolicyDocument | undefined {
  if (model.resourcePolicies[resource]) return model.resourcePolicies[resource];
  // An object's bucket; a method ARN's REST API (`arn:...:execute-api:<region>:<account>:<api id>/<stage>/<verb>/<path>`).
  const parent = /^(arn:[^:]+:s3:::[^/]+)\//.exec(resource) ?? /^(arn:[^:]+:execute-api:[^:]+:[^:]+:[^/]+)\//.exec(resource);
  return parent ? model.resourcePolicies[parent[1]] : undefined;
}

export class PolicySimulator {
  private readonly counts = new Map<string, { allowed: number; denied: number }>();

  /**
   * @param awsManagedPolicies documents of AWS managed policies by ARN (not in the synthesized stacks);
   *   a role's attached AWS managed policies without a document here are left out of its evaluation.
   */
  constructor(readonly model: StackModel, readonly deployment: Deployment, readonly awsManagedPolicies: Readonly<Record<string, PolicyDocument>> = {}) {}

  role(name: string): RoleModel {
    const role = this.model.roles[name];
    if (!role) throw new Error(`no role named ${name} (roles: ${Object.keys(this.model.roles).sort().join(', ')})`);
    return role;
  }

  /** The decision AWS would make for `roleName` calling `request`. */
  async evaluate(roleName: string, request: SimRequest): Promise<SimOutcome> {
    const role = this.role(roleName);
    const managed = role.awsManagedPolicyArns.filter((a) => this.awsManagedPolicies[a]).map((a) => ({ name: a.split('/').pop() ?? a, policy: this.awsManagedPolicies[a] }));
    const identityPolicies = [...role.identityPolicies, ...managed];
    const documents = [...identityPolicies.map((p) => p.policy), ...(role.boundary ? [role.boundary] : [])];
    const unresolved = JSON.stringify(documents).match(new RegExp(`${UNRESOLVED}[^"]*`));
    if (unresolved) throw new Error(`${roleName}: a policy still holds a Terraform reference: ${unresolved[0]}`);
    if (role.boundaryArn !== undefined && role.boundary === undefined) throw new Error(`${roleName}: boundary ${role.boundaryArn} is not among the synthesized policies`);
    return this.run({ arn: role.arn, identityPolicies }, request, role.boundary ? { name: role.boundaryArn ?? 'boundary', policy: role.boundary } : undefined);
  }

  /**
   * The decision for a principal the stacks do not declare (another account's caller, or one of our
   * roles given a hypothetical grant, to show what a resource or endpoint policy alone stops).
   * `resourcePolicy` replaces the model's policy of the resource (e.g. another account's bucket policy).
   */
  async evaluateExternal(principal: ExternalPrincipal, request: SimRequest, resourcePolicy?: PolicyDocument): Promise<SimOutcome> {
    return this.run(principal, request, undefined, resourcePolicy);
  }

  private async run(principal: ExternalPrincipal, request: SimRequest, boundary?: { name: string; policy: PolicyDocument }, resourcePolicyOverride?: PolicyDocument): Promise<SimOutcome> {
    const principalAccount = principal.accountId ?? this.deployment.accountId;
    const resourceAccount = request.resourceAccount ?? this.deployment.accountId;
    const resourcePolicy = resourcePolicyOverride ?? resourcePolicyFor(this.model, request.resource);
    let endpointPolicy: PolicyDocument | undefined;
    if (request.endpoint !== undefined) {
      endpointPolicy = this.model.endpointPolicies[request.endpoint];
      if (!endpointPolicy) throw new Error(`no VPC endpoint policy ${request.endpoint} (endpoints: ${Object.keys(this.model.endpointPolicies).sort().join(', ')})`);
    }
    const result = await runSimulation({
      request: {
        principal: principal.arn,
        action: request.action,
        resource: { resource: request.resource, accountId: resourceAccount },
        contextVariables: {
          'aws:RequestedRegion': this.deployment.region,
          'aws:SecureTransport': 'true',
          'aws:PrincipalArn': principal.arn,
          'aws:PrincipalAccount': principalAccount,
          'aws:ResourceAccount': resourceAccount,
          'aws:PrincipalType': 'AssumedRole',
          ...(request.context as Record<string, string | string[]> | undefined),
        },
      },
      identityPolicies: principal.identityPolicies.map((p) => ({ name: p.name, policy: p.policy })),
      ...(boundary ? { permissionBoundaryPolicies: [boundary] } : {}),
      ...(resourcePolicy ? { resourcePolicy } : {}),
      ...(endpointPolicy ? { vpcEndpointPolicies: [{ name: request.endpoint ?? 'endpoint', policy: endpointPolicy }] } : {}),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    }, { simulationMode: 'Strict' });
    if (result.resultType === 'error') return { decision: 'ImplicitlyDenied', errors: JSON.stringify(result.errors) };
    return { decision: result.overallResult };
  }

  /**
   * The decision for an AWS service principal (`events.amazonaws.com`) calling `request` on a resource
   * of this account: only the resource's policy (key, topic, queue) can allow a service principal.
   */
  async evaluateService(servicePrincipal: string, request: SimRequest): Promise<SimOutcome> {
    const resourcePolicy = resourcePolicyFor(this.model, request.resource);
    const result = await runSimulation({
      request: {
        principal: servicePrincipal,
        action: request.action,
        resource: { resource: request.resource, accountId: this.deployment.accountId },
        contextVariables: {
          'aws:RequestedRegion': this.deployment.region,
          'aws:SecureTransport': 'true',
          'aws:PrincipalServiceName': servicePrincipal,
          ...(request.context as Record<string, string | string[]> | undefined),
        },
      },
      identityPolicies: [],
      ...(resourcePolicy ? { resourcePolicy } : {}),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    }, { simulationMode: 'Strict' });
    if (result.resultType === 'error') return { decision: 'ImplicitlyDenied', errors: JSON.stringify(result.errors) };
    return { decision: result.overallResult };
  }

  /** Throws unless the service principal's call is allowed (or, with `expected`, has that decision); counts it. */
  async expectService(servicePrincipal: string, request: SimRequest, expected: Decision | 'Denied'): Promise<void> {
    const outcome = await this.evaluateService(servicePrincipal, request);
    if (outcome.errors) throw new Error(`simulation of ${servicePrincipal} ${describe(request)} failed: ${outcome.errors}`);
    const ok = expected === 'Denied' ? outcome.decision !== 'Allowed' : outcome.decision === expected;
    if (!ok) throw new Error(`expected ${servicePrincipal} ${describe(request)} to be ${expected}; got ${outcome.decision}`);
    this.count(servicePrincipal, outcome.decision === 'Allowed' ? 'allowed' : 'denied');
  }

  /** Throws unless the external principal's call is allowed (`allowed`) or denied; counts it under `label`. */
  async expectExternal(label: string, principal: ExternalPrincipal, request: SimRequest, expected: 'allowed' | 'denied', resourcePolicy?: PolicyDocument): Promise<void> {
    const outcome = await this.evaluateExternal(principal, request, resourcePolicy);
    if (outcome.errors) throw new Error(`simulation of ${label} ${describe(request)} failed: ${outcome.errors}`);
    const ok = expected === 'allowed' ? outcome.decision === 'Allowed' : outcome.decision !== 'Allowed';
    if (!ok) throw new Error(`expected ${label} to be ${expected} ${describe(request)}; got ${outcome.decision}`);
    this.count(label, expected);
  }

  /** Throws unless the call is allowed; counts it. */
  async expectAllowed(roleName: string, request: SimRequest): Promise<void> {
    const outcome = await this.evaluate(roleName, request);
    if (outcome.decision !== 'Allowed') throw new Error(`expected ${roleName} to be allowed ${describe(request)}; got ${outcome.decision}${outcome.errors ? ` (${outcome.errors})` : ''}`);
    this.count(roleName, 'allowed');
  }

  /** Throws unless the call is denied (explicitly or implicitly, or only explicitly); counts it. */
  async expectDenied(roleName: string, request: SimRequest, how: 'any' | 'explicit' = 'any'): Promise<void> {
    const outcome = await this.evaluate(roleName, request);
    if (outcome.errors) throw new Error(`simulation of ${roleName} ${describe(request)} failed: ${outcome.errors}`);
    const ok = how === 'explicit' ? outcome.decision === 'ExplicitlyDenied' : outcome.decision !== 'Allowed';
    if (!ok) throw new Error(`expected ${roleName} to be ${how === 'explicit' ? 'explicitly ' : ''}denied ${describe(request)}; got ${outcome.decision}`);
    this.count(roleName, 'denied');
  }

  private count(roleName: string, kind: 'allowed' | 'denied'): void {
    const c = this.counts.get(roleName) ?? { allowed: 0, denied: 0 };
    c[kind] += 1;
    this.counts.set(roleName, c);
  }

  /** Allowed/denied assertions per role so far. */
  assertionCounts(): Record<string, { allowed: number; denied: number }> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /**
   * Writes the counts to `<dir>/<suite>.json` (scripts/policy-sim-summary.js adds up every suite's
   * file for the test command's summary).
   */
  writeCounts(dir: string, suite: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${suite}.json`), `${JSON.stringify(this.assertionCounts(), null, 2)}\n`);
  }
}

const describe = (r: SimRequest): string => `${r.action} on ${r.resource}${r.endpoint ? ` through ${r.endpoint}` : ''}${r.context ? ` with ${JSON.stringify(r.context)}` : ''}`;
