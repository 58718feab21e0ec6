/** Runs a real Processor (real Kinesis client, pool, writer, PHI) inside the test process, capturing its log lines. */
import { Writable } from 'node:stream';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { createPool } from '../../../src/adapters/db';
import { kinesisClientFor } from '../../../src/adapters/kinesis-client';
import { createLogger } from '../../../src/adapters/logger';
import { Metrics } from '../../../src/processor/metrics';
import { createDeadLetterProtector, createPhiProtector, type PatientIdentityProtector } from '../../../src/adapters/phi';
import type { Pool } from 'pg';
import { countRetries } from '../../../src/processor/main';
import { Processor, type ProcessorSettings } from '../../../src/processor/processor';
import { BatchWriter } from '../../../src/processor/writer';
import { pgDataKeyStore } from '../../../src/adapters/data-key-store';
import { processorDb, type TestStack } from './stack';

export interface RunningProcessor {
  readonly processor: Processor;
  readonly metrics: Metrics;
  stop(): Promise<void>;
}

export const FAST_LEASES = {
  leaseTtlMs: 2_000,
  leaseRenewMs: 400,
  shardSyncMs: 1_000,
  idlePollMs: 200,
} as const;

export function startProcessor(
  stack: TestStack,
  database: string,
  streamName: string,
  workerId: string,
  logLines: string[],
  overrides: Partial<Omit<ProcessorSettings, 'streamName' | 'workerId'>> = {},
  /** Adjusts the processor's real Kinesis client before it starts (e.g. middleware simulating AWS-only behaviour). */
  prepareKinesis?: (client: KinesisClient) => void,
  /** Replaces the local-key PHI protector (e.g. the KMS one with an injected client). */
  makePhi?: (pool: Pool, metrics: Metrics) => PatientIdentityProtector,
): RunningProcessor {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', base: { workerId } }, sink);
  const metrics = new Metrics({ environment: 'test', write: (line) => logLines.push(line.trim()) });
  const pool = createPool({ ...processorDb(stack, database), maxConnections: 6 });
  pool.on('error', (err) => logger.warn({ code: (err as { code?: string }).code }, 'idle database connection failed')); // as main.ts does
  const kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: stack.kinesalite.endpoint, fastGetRecords: true }); // as main.ts does
  countRetries(kinesis, metrics, 'KinesisRetries', 'KinesisThrottles'); // as main.ts does
  prepareKinesis?.(kinesis);
  const phi = makePhi ? makePhi(pool, metrics) : createPhiProtector({ kind: 'local', keyFile: stack.keyFile }, pgDataKeyStore(pool));
  const deadLetterPayloads = createDeadLetterProtector({ kind: 'local', keyFile: stack.keyFile }, pgDataKeyStore(pool));
  const writer = new BatchWriter({ pool, phi, deadLetterPayloads, news2WindowMs: 60 * 60_000 });
  const processor = new Processor(
    {
      streamName,
      workerId,
      ...FAST_LEASES,
      maxRecordsPerCall: 10_000,
      shutdownDeadlineMs: 20_000,
      ...overrides,
    },
    { pool, kinesis, sink: writer, logger, metrics },
  );
  processor.start();
  return {
    processor,
    metrics,
    stop: async () => {
      await processor.stop();
      metrics.flush();
      await pool.end();
      kinesis.destroy();
    },
  };
}
