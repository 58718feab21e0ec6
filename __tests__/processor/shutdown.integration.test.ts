/**
 * Graceful shutdown against kinesalite and PostgreSQL (TLS): every lease the worker holds is released
 * (so another worker takes the shards at once rather than after the lease TTL), including one taken
 * while the stop was being requested, whose reader must stop at once rather than at the deadline.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Pool } from 'pg';
import { createPool } from '../../src/adapters/db';
import { createLogger } from '../../src/adapters/logger';
import { pgDataKeyStore } from '../../src/adapters/data-key-store';
import { createDeadLetterProtector, createPhiProtector } from '../../src/adapters/phi';
import { Processor } from '../../src/processor/processor';
import { BatchWriter } from '../../src/processor/writer';
import { FAST_LEASES, startProcessor } from './support/in-process';
import { adminPool, createStream, newDatabase, processorDb, startStack, waitFor, type TestStack } from './support/stack';

let stack: TestStack;
const pools: Pool[] = [];

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await stack?.stop();
});

test('a stop requested while a lease is being taken stops that shard\'s reader at once and releases the lease', async () => {
  const database = await newDatabase(stack);
  const stream = `vitals-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 1);
  const admin = adminPool(stack, database);
  const pool = createPool({ ...processorDb(stack, database), maxConnections: 4 });
  pool.on('error', () => undefined);
  pools.push(admin, pool);
  const lines: string[] = [];
  const logger = createLogger(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    }),
  );
  const phiSettings = { kind: 'local', keyFile: stack.keyFile } as const;
  const writer = new BatchWriter({
    pool,
    phi: createPhiProtector(phiSettings, pgDataKeyStore(pool)),
    deadLetterPayloads: createDeadLetterProtector(phiSettings, pgDataKeyStore(pool)),
    news2WindowMs: 3_600_000,
  });
  // SHUTDOWN_DEADLINE_MS 3 s: the processor gives in-flight batches until 1 s after the stop.
  const processor = new Processor(
    { streamName: stream, workerId: 'worker-a', ...FAST_LEASES, maxRecordsPerCall: 10_000, shutdownDeadlineMs: 3_000 },
    { pool, kinesis: stack.kinesis, sink: writer, logger },
  );

  // SIGTERM arrives while the lease cycle's acquire statement is on its way to the database.
  let stopping: Promise<void> | undefined;
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
    // The acquire statement only (the shard sync's expiry of trimmed shards also bumps the epoch).
    if (!stopping && typeof args[0] === 'string' && args[0].includes('SET owner = $3, epoch = epoch + 1')) stopping = processor.stop();
    return query(...args);
  };
  processor.start();
  const deadline = Date.now() + 15_000;
  while (!stopping && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(stopping).toBeDefined();
  await stopping;

  expect(processor.heldShards()).toEqual([]);
  expect(lines.filter((l) => l.includes('shutdown deadline reached'))).toEqual([]);
  expect(lines.some((l) => l.includes('"released":1'))).toBe(true);
  const { rows } = await admin.query('SELECT owner FROM shard_leases');
  expect(rows).toEqual([{ owner: null }]);
}, 30_000);

test('a graceful stop releases every lease the worker holds', async () => {
  const database = await newDatabase(stack);
  const stream = `vitals-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 4);
  const admin = adminPool(stack, database);
  pools.push(admin);
  const lines: string[] = [];
  const p = startProcessor(stack, database, stream, 'worker-a', lines);
  await waitFor(async () => p.processor.heldShards().length === 4, 15_000);
  await p.stop();
  const { rows } = await admin.query('SELECT shard_id, owner FROM shard_leases WHERE owner IS NOT NULL');
  expect(rows).toEqual([]);
  expect(lines.some((l) => l.includes('"released":4'))).toBe(true);
}, 30_000);
