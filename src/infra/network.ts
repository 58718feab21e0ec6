import { Construct } from 'constructs';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { DataAwsIamPolicyDocument, DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { DefaultSecurityGroup } from '@cdktf/provider-aws/lib/default-security-group';
import { FlowLog } from '@cdktf/provider-aws/lib/flow-log';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { RouteTable } from '@cdktf/provider-aws/lib/route-table';
import { RouteTableAssociation } from '@cdktf/provider-aws/lib/route-table-association';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { Subnet } from '@cdktf/provider-aws/lib/subnet';
import { Vpc } from '@cdktf/provider-aws/lib/vpc';
import { VpcEndpoint } from '@cdktf/provider-aws/lib/vpc-endpoint';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';

/**
 * Interface endpoints for every AWS API the processor and Fargate call (docs/design.md, "AWS APIs
 * the processor calls"), keyed by the endpoint service suffix. The VPC has no route to the internet,
 * so a missing endpoint is an outage: all are on by default and each can be switched off.
 */
export const INTERFACE_ENDPOINTS = {
  'kinesis-streams': 'Kinesis GetRecords/PutRecords (processor)',
  kms: 'KMS GenerateDataKey/Decrypt/GenerateMac (processor, PHI envelope and pseudonyms)',
  logs: 'CloudWatch Logs (awslogs driver; metrics are EMF log lines)',
  'ecr.api': 'ECR API (image manifest for the pull)',
  'ecr.dkr': 'ECR Docker registry (image pull)',
  secretsmanager: 'Secrets Manager (master secret injected into the migration task)',
  events: 'EventBridge PutEvents (processor: the alert outbox relay)',
} as const;
export type InterfaceEndpointName = keyof typeof INTERFACE_ENDPOINTS;

/**
 * What the environment's principals may do on its streams through the Kinesis endpoint: the reads of
 * the processor's shard readers, the writes of the HL7 gateway (the ingest API's writes come from API
 * Gateway, outside the VPC), and the enhanced fan-out calls a consumer would make.
 */
export const KINESIS_ENDPOINT_ACTIONS = [
  'kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:DescribeStreamConsumer', 'kinesis:ListShards',
  'kinesis:GetShardIterator', 'kinesis:GetRecords', 'kinesis:SubscribeToShard', 'kinesis:PutRecord', 'kinesis:PutRecords',
] as const;
/** What the environment's principals may do on its buckets through the S3 gateway endpoint. */
export const S3_ENDPOINT_BUCKET_ACTIONS = ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject', 's3:ListBucket', 's3:GetBucketLocation'] as const;
/** Fargate's image pull: layers are downloaded from ECR's AWS-owned bucket with URLs ECR signs. */
export const ECR_LAYER_ACTIONS = ['s3:GetObject'] as const;

/** ECR's image-layer bucket in `region` (AWS-owned; arn:aws:s3:::prod-<region>-starport-layer-bucket). */
export const ecrLayerBucketArn = (partition: string, region: string): string => `arn:${partition}:s3:::prod-${region}-starport-layer-bucket`;

/** Flow-log delivery: write to the one log group, nothing else. */
export const FLOW_LOG_DELIVERY_ACTIONS = ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'] as const;

const HTTPS_PORT = 443;
const SUBNET_PREFIX_LENGTH = 20; // 4,091 usable addresses per AZ: room for many Fargate tasks and endpoint ENIs

export interface NetworkProps {
  readonly environment: string;
  readonly region: string;
  readonly accountId: string;
  /** Exactly three distinct zones of `region`: one private subnet each. */
  readonly availabilityZones: readonly string[];
  /** An IPv4 /16. @default '10.40.0.0/16' */
  readonly cidrBlock?: string;
  /** Switch individual interface endpoints off (all are on). @default every endpoint enabled */
  readonly interfaceEndpoints?: Partial<Record<InterfaceEndpointName, boolean>>;
  /** KMS key for the flow-log group. */
  readonly logsKeyArn: string;
  /** @default 365 */
  readonly logRetentionDays?: number;
  /** @default 'aws' */
  readonly partition?: string;
}

/**
 * A VPC with private subnets only: no internet gateway, no NAT. AWS APIs are reached through an S3
 * gateway endpoint and interface endpoints with private DNS, each with a policy admitting only this
 * account's principals on this account's (S3, Kinesis: this environment's) resources. Creates the processor's security
 * group (egress to the endpoints and, through the gateway, S3 only) and the endpoints' (443 from the
 * processor only); the database construct adds the 5432 pair. Flow logs go to a KMS-encrypted group.
 */
export class Network extends Construct {
  readonly vpc: Vpc;
  readonly subnets: Subnet[];
  readonly routeTable: RouteTable;
  readonly processorSecurityGroup: SecurityGroup;
  readonly endpointSecurityGroup: SecurityGroup;
  readonly s3Endpoint: VpcEndpoint;
  readonly interfaceEndpoints: Partial<Record<InterfaceEndpointName, VpcEndpoint>> = {};
  /** The policy of every endpoint (`s3` and the interface endpoints' names): none is allow-all. */
  readonly endpointPolicies: Record<string, DataAwsIamPolicyDocument> = {};
  readonly flowLogGroup: CloudwatchLogGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const { environment, region } = props;
    const cidrBlock = props.cidrBlock ?? '10.40.0.0/16';
    const subnetCidrs = Network.subnetCidrs(cidrBlock, props.availabilityZones);
    const unknown = Object.keys(props.interfaceEndpoints ?? {}).filter((k) => !(k in INTERFACE_ENDPOINTS));
    if (unknown.length > 0) {
      throw new Error(`Network: interfaceEndpoints has unknown endpoint(s) ${unknown.join(', ')}; known: ${Object.keys(INTERFACE_ENDPOINTS).join(', ')}`);
    }
    const name = `vitals-${environment}`;

    this.vpc = new Vpc(this, 'Vpc', {
      cidrBlock,
      enableDnsSupport: true, // private DNS of interface endpoints needs both
      enableDnsHostnames: true,
      tags: { Name: name },
    });

    // The default security group admits all traffic between its members: strip every rule.
    new DefaultSecurityGroup(this, 'DefaultSecurityGroup', { vpcId: this.vpc.id, tags: { Name: `${name}-default-closed` } });

    this.routeTable = new RouteTable(this, 'PrivateRouteTable', { vpcId: this.vpc.id, tags: { Name: `${name}-private` } });
    this.subnets = Object.entries(subnetCidrs).map(([az, cidr]) => {
      const subnet = new Subnet(this, `Private-${az}`, {
        vpcId: this.vpc.id,
        availabilityZone: az,
        cidrBlock: cidr,
        mapPublicIpOnLaunch: false,
        tags: { Name: `${name}-private-${az}`, Tier: 'private' },
      });
      new RouteTableAssociation(this, `PrivateRoute-${az}`, { subnetId: subnet.id, routeTableId: this.routeTable.id });
      return subnet;
    });

    this.processorSecurityGroup = new SecurityGroup(this, 'ProcessorSecurityGroup', {
      name: `vitals-processor-${environment}`,
      description: 'vitals processor tasks: egress to VPC endpoints, S3 (gateway) and the database only',
      vpcId: this.vpc.id,
      tags: { Name: `vitals-processor-${environment}` },
    });
    this.endpointSecurityGroup = new SecurityGroup(this, 'EndpointSecurityGroup', {
      name: `vitals-endpoints-${environment}`,
      description: 'vitals interface endpoints: HTTPS from the processor only',
      vpcId: this.vpc.id,
      tags: { Name: `vitals-endpoints-${environment}` },
    });
    new VpcSecurityGroupIngressRule(this, 'EndpointsFromProcessor', {
      securityGroupId: this.endpointSecurityGroup.id,
      referencedSecurityGroupId: this.processorSecurityGroup.id,
      ipProtocol: 'tcp', fromPort: HTTPS_PORT, toPort: HTTPS_PORT,
      description: 'HTTPS from processor tasks',
    });
    new VpcSecurityGroupEgressRule(this, 'ProcessorToEndpoints', {
      securityGroupId: this.processorSecurityGroup.id,
      referencedSecurityGroupId: this.endpointSecurityGroup.id,
      ipProtocol: 'tcp', fromPort: HTTPS_PORT, toPort: HTTPS_PORT,
      description: 'HTTPS to AWS APIs through interface endpoints',
    });

    // ---- Endpoint policies (issue 9 finding 6) -------------------------------------------------
    // An endpoint without a policy passes any call with any credentials to any account's resources:
    // a task could copy PHI into another account's bucket or stream. Each endpoint admits this
    // account's principals acting on this account's resources; S3 and Kinesis only this
    // environment's buckets and streams (names `vitals-*-<env>...`), plus ECR's layer bucket.
    const partition = props.partition ?? 'aws';
    const { accountId } = props;
    const anyone = [{ type: '*', identifiers: ['*'] }];
    const thisAccount = (variable: string) => ({ test: 'StringEquals', variable, values: [accountId] });
    const bucketPattern = `arn:${partition}:s3:::vitals-*-${environment}-${accountId}-${region}`;
    const streamPattern = `arn:${partition}:kinesis:${region}:${accountId}:stream/vitals-*-${environment}`;
    const policy = (key: string, statement: DataAwsIamPolicyDocumentStatement[]): DataAwsIamPolicyDocument => {
      const doc = new DataAwsIamPolicyDocument(this, `EndpointPolicy-${key}`, { statement });
      this.endpointPolicies[key] = doc;
      return doc;
    };
    const s3Policy = policy('s3', [
      {
        sid: 'ThisEnvironmentsBuckets',
        principals: anyone,
        actions: [...S3_ENDPOINT_BUCKET_ACTIONS],
        resources: [bucketPattern, `${bucketPattern}/*`],
        condition: [thisAccount('aws:PrincipalAccount'), thisAccount('aws:ResourceAccount')],
      },
      {
        // The layer URLs ECR hands out are signed by ECR, not by our roles: no principal condition.
        sid: 'EcrImageLayers',
        principals: anyone,
        actions: [...ECR_LAYER_ACTIONS],
        resources: [`${ecrLayerBucketArn(partition, region)}/*`],
      },
    ]);
    const accountOnly = (): DataAwsIamPolicyDocumentStatement[] => [{
      sid: 'ThisAccountsPrincipalsAndResources',
      principals: anyone,
      actions: ['*'],
      resources: ['*'],
      condition: [thisAccount('aws:PrincipalAccount'), thisAccount('aws:ResourceAccount')],
    }];
    const interfacePolicies: Partial<Record<InterfaceEndpointName, () => DataAwsIamPolicyDocumentStatement[]>> = {
      'kinesis-streams': () => [{
        sid: 'ThisEnvironmentsStreams',
        principals: anyone,
        actions: [...KINESIS_ENDPOINT_ACTIONS],
        resources: [streamPattern, `${streamPattern}/consumer/*`],
        condition: [thisAccount('aws:PrincipalAccount'), thisAccount('aws:ResourceAccount')],
      }],
    };

    this.s3Endpoint = new VpcEndpoint(this, 'S3Endpoint', {
      vpcId: this.vpc.id,
      serviceName: `com.amazonaws.${region}.s3`,
      vpcEndpointType: 'Gateway',
      routeTableIds: [this.routeTable.id],
      policy: s3Policy.json,
      tags: { Name: `${name}-s3` },
    });
    new VpcSecurityGroupEgressRule(this, 'ProcessorToS3', {
      securityGroupId: this.processorSecurityGroup.id,
      prefixListId: this.s3Endpoint.prefixListId,
      ipProtocol: 'tcp', fromPort: HTTPS_PORT, toPort: HTTPS_PORT,
      description: 'HTTPS to S3 through the gateway endpoint (ECR image layers)',
    });

    for (const endpoint of Object.keys(INTERFACE_ENDPOINTS) as InterfaceEndpointName[]) {
      if (props.interfaceEndpoints?.[endpoint] === false) continue;
      this.interfaceEndpoints[endpoint] = new VpcEndpoint(this, `Endpoint-${endpoint}`, {
        vpcId: this.vpc.id,
        serviceName: `com.amazonaws.${region}.${endpoint}`,
        vpcEndpointType: 'Interface',
        privateDnsEnabled: true,
        subnetIds: this.subnets.map((s) => s.id),
        securityGroupIds: [this.endpointSecurityGroup.id],
        policy: policy(endpoint, (interfacePolicies[endpoint] ?? accountOnly)()).json,
        tags: { Name: `${name}-${endpoint}` },
      });
    }

    this.flowLogGroup = new CloudwatchLogGroup(this, 'FlowLogGroup', {
      name: `/vitals/${environment}/vpc-flow-logs`,
      kmsKeyId: props.logsKeyArn,
      retentionInDays: props.logRetentionDays ?? 365,
    });
    const assume = new DataAwsIamPolicyDocument(this, 'FlowLogAssume', {
      statement: [{
        actions: ['sts:AssumeRole'],
        principals: [{ type: 'Service', identifiers: ['vpc-flow-logs.amazonaws.com'] }],
        condition: [{ test: 'StringEquals', variable: 'aws:SourceAccount', values: [props.accountId] }],
      }],
    });
    const role = new IamRole(this, 'FlowLogRole', { name: `vitals-flow-logs-${environment}`, assumeRolePolicy: assume.json });
    const deliver = new DataAwsIamPolicyDocument(this, 'FlowLogDeliver', {
      statement: [{
        actions: [...FLOW_LOG_DELIVERY_ACTIONS],
        resources: [this.flowLogGroup.arn, `${this.flowLogGroup.arn}:*`],
      }],
    });
    new IamRolePolicy(this, 'FlowLogRolePolicy', { name: 'deliver-flow-logs', role: role.id, policy: deliver.json });
    new FlowLog(this, 'FlowLog', {
      vpcId: this.vpc.id,
      trafficType: 'ALL',
      logDestinationType: 'cloud-watch-logs',
      logDestination: this.flowLogGroup.arn,
      iamRoleArn: role.arn,
      maxAggregationInterval: 60,
      tags: { Name: `${name}-flow-logs` },
    });
  }

  get subnetIds(): string[] {
    return this.subnets.map((s) => s.id);
  }

  /** One /20 per AZ carved from the /16, in order: `a.b.0.0/20`, `a.b.16.0/20`, `a.b.32.0/20`. */
  static subnetCidrs(cidrBlock: string, availabilityZones: readonly string[]): Record<string, string> {
    const match = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/.exec(cidrBlock);
    if (!match) throw new Error(`Network: cidrBlock must be an IPv4 /16 such as 10.40.0.0/16; received ${JSON.stringify(cidrBlock)}`);
    if (availabilityZones.length !== 3 || new Set(availabilityZones).size !== 3) {
      throw new Error(`Network: availabilityZones must be 3 distinct zones; received ${JSON.stringify(availabilityZones)}`);
    }
    const step = 2 ** (24 - SUBNET_PREFIX_LENGTH);
    return Object.fromEntries(availabilityZones.map((az, i) => [az, `${match[1]}.${match[2]}.${i * step}.0/${SUBNET_PREFIX_LENGTH}`]));
  }
}
