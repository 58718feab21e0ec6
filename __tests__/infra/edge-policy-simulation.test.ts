/**
 * The network and API edge, proven by evaluating the synthesized policies with the policy simulator
 * (issue 9 findings 6 and 10): VPC endpoint policies let the tasks' real calls through and stop calls
 * to other accounts' and other environments' resources even for a role granted everything; the REST
 * API's resource policy admits this account's callers only. Counts go to .tmp/policy-sim/.
 */
import { asList, PolicyDocument } from '../../src/infra/policy-sim/documents';
import { ExternalPrincipal, SimRequest } from '../../src/infra/policy-sim/simulate';
import { ecrLayerBucketArn } from '../../src/infra/network';
import { COUNTS_DIR, satisfying, simulator } from './helpers/policy-sim';
import { ACCOUNT_ID, REGION } from './helpers/synth';

jest.setTimeout(60_000);

const sim = simulator();
afterAll(() => sim.writeCounts(COUNTS_DIR, 'edge-policy-simulation'));

const OTHER_ACCOUNT = '999999999999';
const ENVS = ['dev', 'prod'] as const;
const other = (env: string): string => (env === 'dev' ? 'prod' : 'dev');
const arn = (service: string, resource: string, account = ACCOUNT_ID): string => `arn:aws:${service}:${REGION}:${account}:${resource}`;
const tagged = (env: string): Record<string, string> => ({ 'aws:ResourceTag/Environment': env });

/** The endpoint a call of `action` goes through from the private subnets; undefined: no endpoint (e.g. rds-db:connect goes to the database). */
function endpointFor(action: string): string | undefined {
  const [service, name] = action.split(':');
  if (service === 'ecr') return ['BatchGetImage', 'GetDownloadUrlForLayer', 'BatchCheckLayerAvailability'].includes(name) ? 'ecr.dkr' : 'ecr.api';
  return ({ kinesis: 'kinesis-streams', kms: 'kms', logs: 'logs', secretsmanager: 'secretsmanager', s3: 's3', events: 'events' } as Record<string, string>)[service];
}

const allowEverything: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
/** One of our task roles, as if someone had granted it every action on every resource. */
const grantedEverything = (roleName: string): ExternalPrincipal => ({ arn: sim.role(roleName).arn, identityPolicies: [{ name: 'hypothetical-allow-all', policy: allowEverything }] });
/** A bucket or stream policy of another account that admits anyone (an exfiltration target). */
const openToAnyone = (resource: string): PolicyDocument => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: [resource, `${resource}/*`] }] });

describe.each(ENVS)('the %s VPC endpoints', (env) => {
  const stack = `pipeline-${env}`;
  const endpoint = (name: string): string => `${stack}/${name}`;
  const inVpcRoles = Object.values(sim.model.roles).filter((r) => r.stack === stack && /-(exec|task)-/.test(r.name));

  test('none is allow-all: every endpoint has a policy that names conditions or resources', () => {
    const names = Object.keys(sim.model.endpointPolicies).filter((k) => k.startsWith(`${stack}/`)).map((k) => k.slice(stack.length + 1)).sort();
    expect(names).toEqual(['ecr.api', 'ecr.dkr', 'events', 'kinesis-streams', 'kms', 'logs', 's3', 'secretsmanager']);
    for (const name of names) {
      for (const s of sim.model.endpointPolicies[endpoint(name)].Statement) {
        expect(s.Effect).toBe('Allow');
        expect({ name, open: asList(s.Resource).includes('*') && s.Condition === undefined }).toEqual({ name, open: false });
      }
    }
  });

  /** Every grant of every task role whose service has an endpoint, through that endpoint, as the role. */
  test('every call the tasks are granted passes the endpoint it goes through', async () => {
    let checked = 0;
    expect(inVpcRoles.map((r) => r.name)).toEqual(expect.arrayContaining([`vitals-processor-task-${env}`, `vitals-hl7-task-${env}`, `vitals-processor-exec-${env}`]));
    for (const r of inVpcRoles) {
      for (const s of r.identityPolicies.flatMap((p) => p.policy.Statement).filter((x) => x.Effect === 'Allow')) {
        for (const action of asList(s.Action).filter((a) => !a.includes('*'))) {
          const through = endpointFor(action);
          if (through === undefined) continue;
          for (const resource of asList(s.Resource).map((x) => (x === '*' ? x : x.replace(/\*/g, 'x')))) {
            const request: SimRequest = { action, resource, endpoint: endpoint(through), context: { ...tagged(env), ...satisfying(s) } };
            // Log-stream actions granted on the group's ARN act on its streams.
            const probe = await sim.evaluate(r.name, request);
            const group = probe.errors?.includes('no.resource.types') ? /^(.*:log-group:[^:]+)(:x)?$/.exec(resource) : null;
            await sim.expectAllowed(r.name, group ? { ...request, resource: `${group[1]}:log-stream:x` } : request);
            checked += 1;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(15);
  });

  test('the processor reads and the HL7 gateway writes this environment\'s stream through the Kinesis endpoint', async () => {
    const stream = arn('kinesis', `stream/vitals-events-${env}`);
    for (const action of ['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary']) {
      await sim.expectAllowed(`vitals-processor-task-${env}`, { action, resource: stream, endpoint: endpoint('kinesis-streams'), context: tagged(env) });
    }
    await sim.expectAllowed(`vitals-hl7-task-${env}`, { action: 'kinesis:PutRecords', resource: stream, endpoint: endpoint('kinesis-streams'), context: tagged(env) });
  });

  test('image layers come from ECR\'s AWS-owned bucket through the S3 endpoint, with URLs ECR signs', async () => {
    // The layer request is signed by ECR, not by our roles: a principal of another (AWS) account.
    const ecr: ExternalPrincipal = { arn: 'arn:aws:iam::000000000000:role/ecr-layer-signer', accountId: '000000000000', identityPolicies: [{ name: 'allow', policy: allowEverything }] };
    const layer = `${ecrLayerBucketArn('aws', REGION)}/sha256/0123abcd`;
    await sim.expectExternal(`vpce-s3-${env}`, ecr, { action: 's3:GetObject', resource: layer, resourceAccount: '000000000000', endpoint: endpoint('s3') }, 'allowed', openToAnyone(ecrLayerBucketArn('aws', REGION)));
    await sim.expectExternal(`vpce-s3-${env}`, ecr, { action: 's3:PutObject', resource: layer, resourceAccount: '000000000000', endpoint: endpoint('s3') }, 'denied', openToAnyone(ecrLayerBucketArn('aws', REGION)));
  });

  describe('stop a task role granted everything', () => {
    const processor = grantedEverything(`vitals-processor-task-${env}`);
    const label = `vitals-processor-task-${env} (granted *)`;
    const foreignBucket = 'arn:aws:s3:::exfiltration-target';
    const foreignStream = arn('kinesis', 'stream/exfiltration-target', OTHER_ACCOUNT);

    test('writing to another account\'s bucket: allowed without the endpoint policy, denied through it', async () => {
      const request: SimRequest = { action: 's3:PutObject', resource: `${foreignBucket}/phi.json`, resourceAccount: OTHER_ACCOUNT };
      // Without the endpoint policy the (hypothetical) grant and the open bucket policy would allow it:
      // the endpoint policy is what stops it.
      await sim.expectExternal(label, processor, request, 'allowed', openToAnyone(foreignBucket));
      await sim.expectExternal(label, processor, { ...request, endpoint: endpoint('s3') }, 'denied', openToAnyone(foreignBucket));
    });

    test('writing to another account\'s stream: allowed without the endpoint policy, denied through it', async () => {
      const request: SimRequest = { action: 'kinesis:PutRecords', resource: foreignStream, resourceAccount: OTHER_ACCOUNT };
      await sim.expectExternal(label, processor, request, 'allowed', openToAnyone(foreignStream));
      await sim.expectExternal(label, processor, { ...request, endpoint: endpoint('kinesis-streams') }, 'denied', openToAnyone(foreignStream));
    });

    test('reaching the other environment\'s stream and buckets in the same account is denied through the endpoints', async () => {
      await sim.expectExternal(label, processor, { action: 'kinesis:PutRecords', resource: arn('kinesis', `stream/vitals-events-${other(env)}`), endpoint: endpoint('kinesis-streams') }, 'denied');
      await sim.expectExternal(label, processor, { action: 'kinesis:GetRecords', resource: arn('kinesis', `stream/vitals-events-${other(env)}`), endpoint: endpoint('kinesis-streams') }, 'denied');
      await sim.expectExternal(label, processor, { action: 's3:PutObject', resource: `arn:aws:s3:::vitals-audit-${other(env)}-${ACCOUNT_ID}-${REGION}/x` , endpoint: endpoint('s3') }, 'denied');
      // Its own environment's buckets stay reachable (the grant, not the endpoint, decides there).
      await sim.expectExternal(label, processor, { action: 's3:GetObject', resource: `arn:aws:s3:::vitals-audit-${env}-${ACCOUNT_ID}-${REGION}/x`, endpoint: endpoint('s3') }, 'allowed');
    });

    test('other accounts\' keys, log groups and secrets are denied through the interface endpoints', async () => {
      const cases: ReadonlyArray<[string, string, string]> = [
        ['kms', 'kms:Encrypt', arn('kms', 'key/0f0f0f0f-1111-2222-3333-444444444444', OTHER_ACCOUNT)],
        ['logs', 'logs:PutLogEvents', arn('logs', 'log-group:exfiltration:log-stream:x', OTHER_ACCOUNT)],
        ['secretsmanager', 'secretsmanager:PutSecretValue', arn('secretsmanager', 'secret:exfiltration-AbCdEf', OTHER_ACCOUNT)],
        ['ecr.api', 'ecr:PutImage', arn('ecr', 'repository/exfiltration', OTHER_ACCOUNT)],
      ];
      for (const [through, action, resource] of cases) {
        await sim.expectExternal(label, processor, { action, resource, resourceAccount: OTHER_ACCOUNT, endpoint: endpoint(through) }, 'denied', openToAnyone(resource));
      }
    });
  });

  test('another account\'s credentials used inside the VPC reach none of our resources through the endpoints', async () => {
    const intruder: ExternalPrincipal = { arn: `arn:aws:iam::${OTHER_ACCOUNT}:role/intruder`, accountId: OTHER_ACCOUNT, identityPolicies: [{ name: 'allow', policy: allowEverything }] };
    const label = `another account's role (granted *) in the ${env} VPC`;
    const cases: ReadonlyArray<[string, string, string]> = [
      ['kinesis-streams', 'kinesis:GetRecords', arn('kinesis', `stream/vitals-events-${env}`)],
      ['s3', 's3:GetObject', `arn:aws:s3:::vitals-audit-${env}-${ACCOUNT_ID}-${REGION}/x`],
      ['secretsmanager', 'secretsmanager:GetSecretValue', arn('secretsmanager', 'secret:rds!cluster-x')],
      ['kms', 'kms:Decrypt', arn('kms', 'key/0f0f0f0f-1111-2222-3333-444444444444')],
    ];
    for (const [through, action, resource] of cases) {
      // Even were our resource's policy to admit them, the endpoint does not.
      await sim.expectExternal(label, intruder, { action, resource, endpoint: endpoint(through) }, 'denied', openToAnyone(resource));
    }
  });
});

describe('the REST API\'s resource policy (finding 10)', () => {
  const apiArn = (s = sim): string => {
    const found = Object.keys(s.model.resourcePolicies).filter((k) => k.startsWith(`arn:aws:execute-api:${REGION}:${ACCOUNT_ID}:`));
    expect(found).toHaveLength(1);
    return found[0];
  };
  const invokeGrant = (api: string): PolicyDocument => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: `${api}/*` }] });
  const caller = (account: string, name: string, api: string, granted = true): ExternalPrincipal => ({
    arn: `arn:aws:iam::${account}:role/${name}`,
    accountId: account,
    identityPolicies: granted ? [{ name: 'invoke', policy: invokeGrant(api) }] : [],
  });
  const routes = (api: string): string[] => [`${api}/dev/POST/v1/events`, `${api}/dev/GET/fhir/Observation`, `${api}/dev/GET/v1/health`];

  test('this account\'s IAM caller allowed to invoke may call every route', async () => {
    const api = apiArn();
    for (const resource of routes(api)) {
      await sim.expectExternal('api: this account\'s caller', caller(ACCOUNT_ID, 'hospital-engine', api), { action: 'execute-api:Invoke', resource }, 'allowed');
    }
  });

  test('this account\'s principal without an invoke grant is denied (the policy names the account, IAM decides which principals)', async () => {
    const api = apiArn();
    await sim.expectExternal('api: this account\'s caller', caller(ACCOUNT_ID, 'unrelated', api, false), { action: 'execute-api:Invoke', resource: routes(api)[0] }, 'denied');
  });

  test('another account\'s principal is explicitly denied, whatever its own policies allow', async () => {
    const api = apiArn();
    for (const resource of routes(api)) {
      const outcome = await sim.evaluateExternal(caller(OTHER_ACCOUNT, 'anyone', api), { action: 'execute-api:Invoke', resource });
      expect({ resource, decision: outcome.decision }).toEqual({ resource, decision: 'ExplicitlyDenied' });
      await sim.expectExternal('api: another account\'s caller', caller(OTHER_ACCOUNT, 'anyone', api), { action: 'execute-api:Invoke', resource }, 'denied');
    }
  });

  test('with API_ALLOWED_PRINCIPAL_ARNS: exactly the listed principals, this account\'s other roles denied', async () => {
    const hospital = 'arn:aws:iam::111122223333:role/hospital-engine';
    const listed = simulator({ API_ALLOWED_PRINCIPAL_ARNS: hospital });
    const api = apiArn(listed);
    await listed.expectExternal('api: listed caller', caller('111122223333', 'hospital-engine', api), { action: 'execute-api:Invoke', resource: routes(api)[0] }, 'allowed');
    const other = await listed.evaluateExternal(caller('111122223333', 'another-role', api), { action: 'execute-api:Invoke', resource: routes(api)[0] });
    expect(other.decision).toBe('ExplicitlyDenied');
    const ours = await listed.evaluateExternal(caller(ACCOUNT_ID, 'hospital-engine', api), { action: 'execute-api:Invoke', resource: routes(api)[0] });
    expect(ours.decision).toBe('ExplicitlyDenied');
    await listed.expectExternal('api: unlisted caller', caller(ACCOUNT_ID, 'hospital-engine', api), { action: 'execute-api:Invoke', resource: routes(api)[0] }, 'denied');
    listed.writeCounts(COUNTS_DIR, 'edge-policy-simulation-listed');
  });
});
