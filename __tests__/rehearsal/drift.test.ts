import { DriftEntry } from '../../src/infra/emulator';
import { changedAttributes, classifyDrift, countsFromPlan, countsFromPlanText, Plan, PlanResourceChange } from '../../src/rehearsal/drift';

const ALLOWLIST: DriftEntry[] = [
  { type: 'aws_ecs_service', attribute: 'availability_zone_rebalancing', reason: 'the emulator does not store it' },
  { type: 'aws_security_group', attribute: 'tags_all', reason: 'the emulator drops default tags' },
];

const update = (address: string, before: Record<string, unknown>, after: Record<string, unknown>, afterUnknown: Record<string, unknown> = {}): PlanResourceChange => ({
  address, type: address.split('.')[0], mode: 'managed', change: { actions: ['update'], before, after, after_unknown: afterUnknown },
});

describe('changed attributes', () => {
  it('are the top-level attributes whose value differs, nested differences included', () => {
    const change = update('aws_security_group.Sg_1', { name: 'a', ingress: [{ description: 'x' }], tags_all: {} }, { name: 'a', ingress: [{ description: 'y' }], tags_all: {} }).change;
    expect(changedAttributes(change)).toEqual(['ingress']);
  });

  it('include attributes known only after apply', () => {
    const change = update('aws_ecs_service.S', { task_definition: 'arn:1' }, { task_definition: null }, { task_definition: true }).change;
    expect(changedAttributes(change)).toEqual(['task_definition']);
  });

  it('are the whole resource (*) for a create, a destroy or a replacement', () => {
    for (const actions of [['create'], ['delete'], ['delete', 'create'], ['create', 'delete']]) {
      expect(changedAttributes({ actions, before: {}, after: {} })).toEqual(['*']);
    }
  });
});

describe('drift classification', () => {
  it('accepts an update whose every changed attribute is allowlisted for that resource type, whatever its address', () => {
    const plan: Plan = { resource_changes: [update('aws_ecs_service.Processing_Service_ABC123', { availability_zone_rebalancing: 'ENABLED' }, { availability_zone_rebalancing: 'DISABLED' })] };
    const report = classifyDrift(plan, ALLOWLIST);
    expect(report.unexpected).toEqual([]);
    expect(report.allowlisted.map((f) => f.address)).toEqual(['aws_ecs_service.Processing_Service_ABC123']);
    expect(report.entriesUsed).toEqual([ALLOWLIST[0]]);
  });

  it('reports the attributes that are not allowlisted, even next to allowlisted ones', () => {
    const plan: Plan = { resource_changes: [update('aws_security_group.Sg', { tags_all: {}, description: 'a' }, { tags_all: { A: 'b' }, description: 'b' })] };
    const report = classifyDrift(plan, ALLOWLIST);
    expect(report.unexpected).toEqual([{ address: 'aws_security_group.Sg', type: 'aws_security_group', actions: ['update'], attributes: ['description'] }]);
    expect(report.allowlisted).toEqual([]);
  });

  it('does not match an allowlisted attribute on another resource type', () => {
    const plan: Plan = { resource_changes: [update('aws_ecs_cluster.C', { tags_all: {} }, { tags_all: { A: 'b' } })] };
    expect(classifyDrift(plan, ALLOWLIST).unexpected).toHaveLength(1);
  });

  it('treats a resource to create, destroy or replace as unexpected', () => {
    const plan: Plan = { resource_changes: [{ address: 'aws_ecs_service.S', type: 'aws_ecs_service', change: { actions: ['delete', 'create'] } }] };
    expect(classifyDrift(plan, ALLOWLIST).unexpected[0].attributes).toEqual(['*']);
  });

  it('ignores no-op changes and data sources', () => {
    const plan: Plan = {
      resource_changes: [
        { address: 'aws_vpc.V', type: 'aws_vpc', change: { actions: ['no-op'] } },
        { address: 'data.aws_iam_policy_document.D', type: 'aws_iam_policy_document', mode: 'data', change: { actions: ['read'] } },
      ],
    };
    expect(classifyDrift(plan, ALLOWLIST)).toEqual({ allowlisted: [], consequences: [], unexpected: [], entriesUsed: [] });
  });
});

describe('changes that follow from allowlisted drift', () => {
  // A role policy whose document reads the ARN of a stream with allowlisted drift: Terraform defers
  // the document to apply time, so the policy is "known after apply".
  const plan = (streamChange: PlanResourceChange['change'], policyAfter: Record<string, unknown>, policyUnknown: Record<string, unknown>): Plan => ({
    resource_changes: [
      { address: 'aws_kinesis_stream.S', type: 'aws_kinesis_stream', mode: 'managed', change: streamChange },
      { address: 'data.aws_iam_policy_document.D', type: 'aws_iam_policy_document', mode: 'data', action_reason: 'read_because_dependency_pending', change: { actions: ['read'] } },
      update('aws_iam_role_policy.P', { policy: '{"Statement":[]}', name: 'p' }, { name: 'p', ...policyAfter }, policyUnknown),
    ],
    configuration: {
      root_module: {
        resources: [
          { address: 'data.aws_iam_policy_document.D', expressions: { statement: [{ resources: { references: ['aws_kinesis_stream.S.arn', 'aws_kinesis_stream.S'] } }] } },
          { address: 'aws_iam_role_policy.P', expressions: { policy: { references: ['data.aws_iam_policy_document.D.json', 'data.aws_iam_policy_document.D'] } } },
        ],
      },
    },
  });
  const allowlist: DriftEntry[] = [{ type: 'aws_kinesis_stream', attribute: 'tags_all', reason: 'the emulator ignores CreateStream tags' }];
  const tagsDrift = { actions: ['update'], before: { tags_all: {} }, after: { tags_all: { A: 'b' } }, after_unknown: {} };

  it('accepts a value known only after apply, read from a data source deferred by allowlisted changes', () => {
    const report = classifyDrift(plan(tagsDrift, { policy: null }, { policy: true }), allowlist);
    expect(report.unexpected).toEqual([]);
    expect(report.consequences.map((c) => [c.address, c.because])).toEqual([['aws_iam_role_policy.P', ['aws_kinesis_stream.S']]]);
  });

  it('does not accept a known policy change, even next to allowlisted drift', () => {
    const report = classifyDrift(plan(tagsDrift, { policy: '{"Statement":[{"Effect":"Allow"}]}' }, {}), allowlist);
    expect(report.unexpected.map((f) => f.address)).toEqual(['aws_iam_role_policy.P']);
  });

  it('does not accept it when the pending change behind the data source is not allowlisted', () => {
    const renamed = { actions: ['update'], before: { name: 'a' }, after: { name: 'b' }, after_unknown: {} };
    const report = classifyDrift(plan(renamed, { policy: null }, { policy: true }), allowlist);
    expect(report.unexpected.map((f) => f.address).sort()).toEqual(['aws_iam_role_policy.P', 'aws_kinesis_stream.S']);
  });
});

describe('plan counts', () => {
  it('reads terraform\'s Plan line and "No changes."', () => {
    expect(countsFromPlanText('pipeline-dev  Plan: 0 to add, 17 to change, 0 to destroy.')).toEqual({ add: 0, change: 17, destroy: 0 });
    expect(countsFromPlanText('No changes. Your infrastructure matches the configuration.')).toEqual({ add: 0, change: 0, destroy: 0 });
    expect(countsFromPlanText('Error: something')).toBeUndefined();
  });

  it('reads the Plan line through terminal colour codes', () => {
    expect(countsFromPlanText('pipeline-dev  \u001b[1mPlan:\u001b[0m 0 to add, 4 to change, 0 to destroy.')).toEqual({ add: 0, change: 4, destroy: 0 });
  });

  it('counts a replacement as one add and one destroy, as terraform does', () => {
    const plan: Plan = {
      resource_changes: [
        { address: 'a.a', type: 'a', change: { actions: ['delete', 'create'] } },
        { address: 'b.b', type: 'b', change: { actions: ['update'] } },
        { address: 'c.c', type: 'c', change: { actions: ['no-op'] } },
      ],
    };
    expect(countsFromPlan(plan)).toEqual({ add: 1, change: 1, destroy: 1 });
  });
});
