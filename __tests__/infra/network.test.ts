import { DefaultSecurityGroup } from '@cdktf/provider-aws/lib/default-security-group';
import { FlowLog } from '@cdktf/provider-aws/lib/flow-log';
import { VpcEndpoint } from '@cdktf/provider-aws/lib/vpc-endpoint';
import { INTERFACE_ENDPOINTS, Network, NetworkProps } from '../../src/infra/network';
import { ACCOUNT_ID, KEY_ARN, REGION, allowedActions, ofType, synthConstruct } from './helpers/synth';

const AZS = ['eu-central-2a', 'eu-central-2b', 'eu-central-2c'];
const network = (props: Partial<NetworkProps> = {}) => synthConstruct((scope) => new Network(scope, 'Network', {
  environment: 'dev', region: REGION, accountId: ACCOUNT_ID, availabilityZones: AZS, logsKeyArn: KEY_ARN('logs'), ...props,
}));

describe('Network', () => {
  it('places one private subnet in each of the three AZs, none assigning public IPs', () => {
    const subnets = ofType(network(), 'aws_subnet');
    expect(subnets.map((s) => s.availability_zone)).toEqual(AZS);
    expect(subnets.map((s) => s.cidr_block)).toEqual(['10.40.0.0/20', '10.40.16.0/20', '10.40.32.0/20']);
    for (const subnet of subnets) expect(subnet.map_public_ip_on_launch).toBe(false);
  });

  it('has no internet gateway, no NAT gateway and no route besides the local one', () => {
    const json = network();
    expect(ofType(json, 'aws_internet_gateway')).toEqual([]);
    expect(ofType(json, 'aws_nat_gateway')).toEqual([]);
    expect(ofType(json, 'aws_eip')).toEqual([]);
    expect(ofType(json, 'aws_route')).toEqual([]);
    expect(ofType(json, 'aws_route_table').map((t) => t.route)).toEqual([undefined]);
  });

  it('reaches S3 through a gateway endpoint on the private route table', () => {
    expect(JSON.stringify(network())).toHaveResourceWithProperties(VpcEndpoint, { service_name: `com.amazonaws.${REGION}.s3`, vpc_endpoint_type: 'Gateway' });
  });

  it('creates an interface endpoint with private DNS for every API the processor calls', () => {
    const endpoints = ofType(network(), 'aws_vpc_endpoint').filter((e) => e.vpc_endpoint_type === 'Interface');
    expect(endpoints.map((e) => e.service_name).sort()).toEqual(Object.keys(INTERFACE_ENDPOINTS).map((n) => `com.amazonaws.${REGION}.${n}`).sort());
    for (const endpoint of endpoints) expect(endpoint.private_dns_enabled).toBe(true);
  });

  it('can switch an interface endpoint off', () => {
    const endpoints = ofType(network({ interfaceEndpoints: { secretsmanager: false } }), 'aws_vpc_endpoint');
    expect(endpoints.map((e) => e.service_name)).not.toContain(`com.amazonaws.${REGION}.secretsmanager`);
    expect(endpoints).toHaveLength(Object.keys(INTERFACE_ENDPOINTS).length);
  });

  it('rejects an unknown interface endpoint name', () => {
    expect(() => network({ interfaceEndpoints: { sqs: true } as unknown as NetworkProps['interfaceEndpoints'] })).toThrow(/unknown endpoint\(s\) sqs/);
  });

  it('admits HTTPS to the endpoints only from the processor security group', () => {
    const ingress = ofType(network(), 'aws_vpc_security_group_ingress_rule');
    expect(ingress).toHaveLength(1);
    expect(ingress[0]).toMatchObject({ from_port: 443, to_port: 443, ip_protocol: 'tcp' });
    expect(ingress[0].referenced_security_group_id).toMatch(/aws_security_group\.Network_ProcessorSecurityGroup/);
    expect(ingress[0].cidr_ipv4).toBeUndefined();
  });

  it('lets the processor reach only the endpoints and S3, on 443', () => {
    const egress = ofType(network(), 'aws_vpc_security_group_egress_rule');
    expect(egress.map((e) => [e.from_port, e.to_port])).toEqual([[443, 443], [443, 443]]);
    expect(egress.some((e) => String(e.prefix_list_id).includes('prefix_list_id'))).toBe(true);
    for (const rule of egress) expect(rule.cidr_ipv4).toBeUndefined();
  });

  it('closes the default security group', () => {
    const json = network();
    expect(JSON.stringify(json)).toHaveResource(DefaultSecurityGroup);
    const [closed] = ofType(json, 'aws_default_security_group');
    expect(closed.ingress).toBeUndefined();
    expect(closed.egress).toBeUndefined();
  });

  it('sends all flow logs to a KMS-encrypted log group', () => {
    const json = network();
    expect(JSON.stringify(json)).toHaveResourceWithProperties(FlowLog, { traffic_type: 'ALL', log_destination_type: 'cloud-watch-logs' });
    expect(ofType(json, 'aws_cloudwatch_log_group')).toEqual([expect.objectContaining({ kms_key_id: KEY_ARN('logs'), retention_in_days: 365, name: '/vitals/dev/vpc-flow-logs' })]);
  });

  it('lets the flow-log role write only to its log group', () => {
    const json = network();
    expect(allowedActions(json).filter((a) => a.startsWith('logs:')).sort()).toEqual(['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents']);
    const deliver = ofType(json, 'aws_iam_policy_document', 'data').find((d) => JSON.stringify(d).includes('logs:PutLogEvents'));
    expect(JSON.stringify(deliver)).toContain('aws_cloudwatch_log_group.Network_FlowLogGroup');
    expect(JSON.stringify(deliver)).not.toContain('"*"');
  });

  it('rejects anything but three distinct availability zones', () => {
    expect(() => network({ availabilityZones: AZS.slice(0, 2) })).toThrow(/availabilityZones must be 3 distinct zones/);
  });

  it('rejects a VPC CIDR that is not a /16', () => {
    expect(() => network({ cidrBlock: '10.0.0.0/8' })).toThrow(/cidrBlock must be an IPv4 \/16/);
  });
});

describe('Network endpoint policies (issue 9 finding 6)', () => {
  const policies = (props: Partial<NetworkProps> = {}): Record<string, { statement: Array<Record<string, unknown>> }> => {
    const json = network(props);
    const docs = json.data?.aws_iam_policy_document ?? {};
    const byService: Record<string, { statement: Array<Record<string, unknown>> }> = {};
    for (const endpoint of ofType(json, 'aws_vpc_endpoint')) {
      const ref = /data\.aws_iam_policy_document\.([^.]+)\.json/.exec(String(endpoint.policy));
      expect(ref).not.toBeNull();
      byService[String(endpoint.service_name).replace(`com.amazonaws.${REGION}.`, '')] = docs[ref![1]] as never;
    }
    return byService;
  };

  it('gives every endpoint a policy (none is the allow-all default)', () => {
    const byService = policies();
    expect(Object.keys(byService).sort()).toEqual(['s3', ...Object.keys(INTERFACE_ENDPOINTS)].sort());
  });

  it('lets S3 reach only this environment\'s buckets of this account, and ECR\'s layer bucket for image pulls', () => {
    const [own, layers] = policies().s3.statement;
    expect(own.resources).toEqual([`arn:aws:s3:::vitals-*-dev-${ACCOUNT_ID}-${REGION}`, `arn:aws:s3:::vitals-*-dev-${ACCOUNT_ID}-${REGION}/*`]);
    expect(own.condition).toEqual([
      { test: 'StringEquals', variable: 'aws:PrincipalAccount', values: [ACCOUNT_ID] },
      { test: 'StringEquals', variable: 'aws:ResourceAccount', values: [ACCOUNT_ID] },
    ]);
    expect(layers).toMatchObject({ actions: ['s3:GetObject'], resources: [`arn:aws:s3:::prod-${REGION}-starport-layer-bucket/*`] });
  });

  it('lets Kinesis reach only this environment\'s streams', () => {
    const [streams] = policies({ environment: 'prod' })['kinesis-streams'].statement;
    expect(streams.resources).toEqual([`arn:aws:kinesis:${REGION}:${ACCOUNT_ID}:stream/vitals-*-prod`, `arn:aws:kinesis:${REGION}:${ACCOUNT_ID}:stream/vitals-*-prod/consumer/*`]);
    expect(streams.actions).toContain('kinesis:GetRecords');
    expect(streams.actions).toContain('kinesis:PutRecords');
  });

  it('restricts every other interface endpoint to this account\'s principals and resources', () => {
    const byService = policies();
    for (const name of Object.keys(INTERFACE_ENDPOINTS).filter((n) => n !== 'kinesis-streams')) {
      expect({ name, condition: byService[name].statement[0].condition }).toEqual({
        name,
        condition: [
          { test: 'StringEquals', variable: 'aws:PrincipalAccount', values: [ACCOUNT_ID] },
          { test: 'StringEquals', variable: 'aws:ResourceAccount', values: [ACCOUNT_ID] },
        ],
      });
    }
  });
});
