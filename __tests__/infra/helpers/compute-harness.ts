/**
 * A tiny stack for the processing-service and ingest-api construct tests: dummy upstream values
 * (ARNs, ids) in place of the network, keys, stream and database constructs, and the two values
 * the real stack takes as Terraform variables (account id, image URI) as variables here too.
 */
import { App, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { Construct } from 'constructs';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { IngestApi, IngestApiProps } from '../../../src/infra/ingest-api';
import { ProcessingService, ProcessingServiceProps } from '../../../src/infra/processing-service';

export const REGION = 'eu-central-2';
export const ACCOUNT = '123456789012';
const key = (name: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${name}-0000-0000-0000-000000000000`;

export const DUMMY = {
  streamName: 'vitals-events-test',
  streamArn: `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/vitals-events-test`,
  streamKeyArn: key('stream'),
  logsKeyArn: key('logs'),
  phiKeyArn: key('phi'),
  deadLetterKeyArn: key('deadletter'),
  hmacKeyArn: key('hmac'),
  secretKeyArn: key('secret'),
  ephemeralKeyArn: key('ephemeral'),
  repositoryArn: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/vitals-processor-test`,
  masterSecretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!cluster-abc-123456`,
  clusterResourceId: 'cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  dbEndpoint: 'vitals-test.cluster-abc.eu-central-2.rds.amazonaws.com',
  imageUri: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/vitals-processor-test@sha256:${'a'.repeat(64)}`,
} as const;

/** Props with plain values (no tokens), for validation tests. */
export function processingProps(overrides: Partial<ProcessingServiceProps> = {}): ProcessingServiceProps {
  return {
    environment: 'test',
    region: REGION,
    accountId: ACCOUNT,
    vpcId: 'vpc-0123456789abcdef0',
    subnetIds: ['subnet-a', 'subnet-b', 'subnet-c'],
    securityGroupIds: ['sg-processor'],
    imageUri: DUMMY.imageUri,
    repositoryArn: DUMMY.repositoryArn,
    logsKeyArn: DUMMY.logsKeyArn,
    stream: { name: DUMMY.streamName, arn: DUMMY.streamArn, keyArn: DUMMY.streamKeyArn, shardCount: 4, retentionHours: 168 },
    database: {
      endpoint: DUMMY.dbEndpoint,
      port: 5432,
      name: 'vitals',
      clusterResourceId: DUMMY.clusterResourceId,
      masterSecretArn: DUMMY.masterSecretArn,
      secretKeyArn: DUMMY.secretKeyArn,
      processorUser: 'vitals_processor',
    },
    phiKeyArn: DUMMY.phiKeyArn,
    deadLetterKeyArn: DUMMY.deadLetterKeyArn,
    hmacKeyArn: DUMMY.hmacKeyArn,
    ephemeralStorageKeyArn: DUMMY.ephemeralKeyArn,
    ...overrides,
  };
}

export function ingestProps(overrides: Partial<IngestApiProps> = {}): IngestApiProps {
  return {
    environment: 'test',
    region: REGION,
    accountId: ACCOUNT,
    stream: { name: DUMMY.streamName, arn: DUMMY.streamArn, keyArn: DUMMY.streamKeyArn },
    logsKeyArn: DUMMY.logsKeyArn,
    ...overrides,
  };
}

/** Offline provider settings: validate and plan need no credentials and no AWS call. */
export function offlineProvider(scope: Construct): AwsProvider {
  return new AwsProvider(scope, 'aws', {
    region: REGION,
    accessKey: 'test',
    secretKey: 'test',
    skipCredentialsValidation: true,
    skipRequestingAccountId: true,
    skipMetadataApiCheck: 'true',
  });
}

/** The harness stack: both constructs, account id and image URI as Terraform variable tokens. */
export class ComputeHarnessStack extends TerraformStack {
  public readonly processing: ProcessingService;
  public readonly api: IngestApi;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    offlineProvider(this);
    const accountId = new TerraformVariable(this, 'account_id', { type: 'string', default: ACCOUNT }).stringValue;
    const imageUri = new TerraformVariable(this, 'processor_image_uri', { type: 'string', default: DUMMY.imageUri }).stringValue;
    this.processing = new ProcessingService(this, 'Processing', processingProps({ accountId, imageUri }));
    this.api = new IngestApi(this, 'IngestApi', ingestProps({ accountId }));
  }
}

export function harnessApp(): { app: App; stack: ComputeHarnessStack } {
  const app = Testing.app();
  const stack = new ComputeHarnessStack(app, 'compute-harness');
  return { app, stack };
}

/** Synthesized Terraform JSON of the harness stack, parsed. */
export interface SynthesizedStack {
  resource: Record<string, Record<string, Record<string, unknown>>>;
  data: Record<string, Record<string, Record<string, unknown>>>;
}
export function synthHarness(): { json: string; parsed: SynthesizedStack; stack: ComputeHarnessStack } {
  const { stack } = harnessApp();
  const json = Testing.synth(stack);
  return { json, parsed: JSON.parse(json) as SynthesizedStack, stack };
}
