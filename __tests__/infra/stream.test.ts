import { KinesisStream } from '@cdktf/provider-aws/lib/kinesis-stream';
import { Stream } from '../../src/infra/stream';
import { KEY_ARN, synthConstruct } from './helpers/synth';

const stream = (props: Partial<ConstructorParameters<typeof Stream>[2]> = {}) =>
  JSON.stringify(synthConstruct((scope) => new Stream(scope, 'Stream', { environment: 'dev', kmsKeyArn: KEY_ARN('data'), ...props })));

describe('Stream', () => {
  it('encrypts records with the customer-managed key', () => {
    expect(stream()).toHaveResourceWithProperties(KinesisStream, { encryption_type: 'KMS', kms_key_id: KEY_ARN('data') });
  });

  it('is provisioned with 4 shards and a 7-day replay window by default', () => {
    expect(stream()).toHaveResourceWithProperties(KinesisStream, {
      name: 'vitals-events-dev',
      stream_mode_details: { stream_mode: 'PROVISIONED' },
      shard_count: 4,
      retention_period: 168,
    });
  });

  it('publishes shard-level iterator age and throttling metrics', () => {
    expect(stream()).toHaveResourceWithProperties(KinesisStream, {
      shard_level_metrics: expect.arrayContaining(['IteratorAgeMilliseconds', 'IncomingRecords', 'WriteProvisionedThroughputExceeded']),
    });
  });

  it('takes the shard count and retention given', () => {
    expect(stream({ shardCount: 10, retentionHours: 48 })).toHaveResourceWithProperties(KinesisStream, { shard_count: 10, retention_period: 48 });
  });

  it('rejects a shard count outside 1 to 500', () => {
    expect(() => stream({ shardCount: 0 })).toThrow(/shardCount must be an integer from 1 to 500; received 0/);
  });

  it('rejects a retention outside 24 to 8760 hours', () => {
    expect(() => stream({ retentionHours: 12 })).toThrow(/retentionHours must be an integer from 24 to 8760; received 12/);
  });
});
