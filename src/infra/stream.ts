import { Construct } from 'constructs';
import { PropProblems } from './prop-problems';
import { KinesisStream } from '@cdktf/provider-aws/lib/kinesis-stream';
import {
  DEFAULT_SHARD_COUNT, SHARD_COUNT_MAX, SHARD_COUNT_MIN, STREAM_RETENTION_HOURS_MAX, STREAM_RETENTION_HOURS_MIN,
} from './config';

/**
 * Shard-level metrics: per-shard throughput and throttling, and the iterator age that drives the
 * processor's autoscaling and the lag alarms.
 */
export const SHARD_LEVEL_METRICS = [
  'IncomingBytes', 'IncomingRecords', 'OutgoingBytes', 'OutgoingRecords',
  'WriteProvisionedThroughputExceeded', 'ReadProvisionedThroughputExceeded', 'IteratorAgeMilliseconds',
] as const;

export interface StreamProps {
  readonly environment: string;
  /** KMS key encrypting records at rest (customer-managed). */
  readonly kmsKeyArn: string;
  /**
   * Provisioned shards. The default is sized in config.ts (DEFAULT_SHARD_COUNT): 1,000 events/s of
   * ~1 KB at peak fill one shard's write limit (1 MB/s or 1,000 records/s); 4 shards give 4x headroom.
   * @default 4
   */
  readonly shardCount?: number;
  /** Hours a record stays readable (replay window after a processor outage). @default 168 */
  readonly retentionHours?: number;
  /** Delete registered enhanced fan-out consumers with the stream (non-production). @default false */
  readonly enforceConsumerDeletion?: boolean;
}

/** The event stream: one Kinesis data stream, provisioned mode, encrypted with our key. */
export class Stream extends Construct {
  readonly stream: KinesisStream;
  readonly shardCount: number;
  /** Hours a record stays readable, as configured. */
  readonly retentionHours: number;
  readonly kmsKeyArn: string;

  constructor(scope: Construct, id: string, props: StreamProps) {
    super(scope, id);
    const shardCount = props.shardCount ?? DEFAULT_SHARD_COUNT;
    const retentionHours = props.retentionHours ?? 168;
    new PropProblems(`Stream "${id}"`)
      .integer('shardCount', shardCount, SHARD_COUNT_MIN, SHARD_COUNT_MAX)
      .integer('retentionHours', retentionHours, STREAM_RETENTION_HOURS_MIN, STREAM_RETENTION_HOURS_MAX)
      .throwIfAny();

    this.shardCount = shardCount;
    this.retentionHours = retentionHours;
    this.kmsKeyArn = props.kmsKeyArn;
    this.stream = new KinesisStream(this, 'Resource', {
      name: `vitals-events-${props.environment}`,
      streamModeDetails: { streamMode: 'PROVISIONED' },
      shardCount,
      retentionPeriod: retentionHours,
      encryptionType: 'KMS',
      kmsKeyId: props.kmsKeyArn,
      shardLevelMetrics: [...SHARD_LEVEL_METRICS],
      enforceConsumerDeletion: props.enforceConsumerDeletion ?? false,
    });
  }

  get name(): string {
    return this.stream.name;
  }

  get arn(): string {
    return this.stream.arn;
  }
}
