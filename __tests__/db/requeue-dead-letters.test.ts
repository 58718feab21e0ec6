/**
 * Dead-letter requeues against kinesalite and PostgreSQL (TLS) started by this file, with a real
 * processor: a test-only trigger (created here, never in migrations) makes one event unprocessable;
 * dropping it is "the fix"; the request command (as the ops role) marks the dead letter, the
 * processor's sweep (as the processor role, dead-letter key) puts the record back and the processor
 * stores it exactly once.
 */
import { randomUUID } from 'node:crypto';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, PutRecordsCommand, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import type { Pool } from 'pg';
import { main, requeueDeadLetters, type PutRecordsClient } from '../../src/db/requeue-dead-letters';
import { sweepOnce } from '../../src/processor/requeue-sweep';
import { createPool } from '../../src/adapters/db';
import { pgDataKeyStore } from '../../src/adapters/data-key-store';
import { createDeadLetterProtector } from '../../src/adapters/phi';
import { startProcessor, type RunningProcessor } from '../processor/support/in-process';
import { OPS_PASSWORD, adminPool, count, processorDb, createStream, eventRecord, makeEvent, makePatientId, newDatabase, putRecords, waitFor, type TestStack } from '../processor/support/stack';
import { useIntegrationStack } from '../processor/support/lifecycle';

let stack: TestStack;
const running: RunningProcessor[] = [];
const pools: Pool[] = [];
const processorLogs: string[] = [];

useIntegrationStack({ onStack: (s) => (stack = s), stack: () => stack, running, pools });

interface Scenario {
  readonly db: Pool;
  readonly database: string;
  readonly stream: string;
}

async function scenario(): Promise<Scenario> {
  const database = await newDatabase(stack);
  const stream = `requeue-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 1);
  const db = adminPool(stack, database);
  pools.push(db);
  return { db, database, stream };
}

/** The test-only "bug": inserts of the listed event ids fail with a check violation (poison, 23514). */
async function installRejectingTrigger(db: Pool, eventId: string): Promise<void> {
  await db.query(`
    CREATE TABLE test_rejections (event_id uuid PRIMARY KEY);
    CREATE FUNCTION test_reject_event() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $fn$
    BEGIN
      IF EXISTS (SELECT 1 FROM test_rejections WHERE event_id = NEW.event_id) THEN
        RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = 'test rejection';
      END IF;
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER test_reject_event BEFORE INSERT ON observations FOR EACH ROW EXECUTE FUNCTION test_reject_event();
  `);
  await db.query('INSERT INTO test_rejections (event_id) VALUES ($1)', [eventId]);
}

async function fixTheBug(db: Pool): Promise<void> {
  await db.query('DROP TRIGGER test_reject_event ON observations');
}

function runProcessor(s: Scenario): RunningProcessor {
  const p = startProcessor(stack, s.database, s.stream, 'worker-a', processorLogs);
  running.push(p);
  return p;
}

/** The request command's environment, as the ops task definition gives it (a password instead of IAM locally). */
function commandEnv(s: Scenario): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'development',
    AWS_REGION: 'eu-central-2',
    DB_HOST: stack.pg.host,
    DB_PORT: String(stack.pg.port),
    DB_NAME: s.database,
    DB_SSL_CA_FILE: stack.pg.caFile,
    DB_USER: 'vitals_ops',
    DB_AUTH: 'password',
    DB_PASSWORD: OPS_PASSWORD,
  };
}

/** The processor's pool (processor role) for the sweep. */
function processorPool(s: Scenario): Pool {
  const pool = createPool({ ...processorDb(stack, s.database), maxConnections: 3 });
  pool.on('error', () => undefined);
  pools.push(pool);
  return pool;
}

/** One round of the processor's requeue sweep: processor role, dead-letter key, the real stream. */
function sweep(s: Scenario, kinesis: PutRecordsClient = stack.kinesis) {
  const pool = processorPool(s);
  return sweepOnce({ pool, kinesis, streamName: s.stream, deadLetterPayloads: createDeadLetterProtector({ kind: 'local', keyFile: stack.keyFile }, pgDataKeyStore(pool)) });
}

/**
 * The request command in-process (as the ops role), then, unless a dry run, one sweep round as the
 * processor performs it; `summary` merges the two (the sweep's counts win), `code` is 2 when the
 * sweep failed some.
 */
async function runCommand(s: Scenario, args: string[]): Promise<{ code: number; lines: string[]; summary: Record<string, unknown> }> {
  const lines: string[] = [];
  const code = await main(args, commandEnv(s), (line) => lines.push(line));
  const request = JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
  if (code !== 0 || args.includes('--dry-run')) return { code, lines, summary: request };
  const swept = await sweep(s);
  return { code: swept.failed > 0 ? 2 : 0, lines, summary: { ...request, ...swept } };
}

/** A stored event whose first insert the trigger rejected: one `unprocessable` dead letter, 2 neighbours stored. */
async function unprocessableEvent(s: Scenario): Promise<{ culprit: Record<string, unknown>; patientId: string }> {
  const patientId = makePatientId();
  const t0 = Date.now() - 60_000;
  const events = [0, 1, 2].map((i) => makeEvent({ patientId, deviceId: 'monitor-7', observedAt: new Date(t0 + i * 1_000) }));
  const culprit = events[1] as Record<string, unknown>;
  await installRejectingTrigger(s.db, String(culprit.eventId));
  await putRecords(stack.kinesis, s.stream, events.map(eventRecord));
  runProcessor(s);
  await waitFor(async () => (await count(s.db, "SELECT count(*) AS n FROM dead_letters WHERE reason = 'unprocessable'")) === 1, 30_000);
  await waitFor(async () => (await count(s.db, 'SELECT count(*) AS n FROM observations')) === 2, 10_000);
  return { culprit, patientId };
}

/** Every record in the (single-shard) stream, oldest first. */
async function streamRecords(stream: string): Promise<Array<{ data: string; partitionKey: string }>> {
  const shards = await stack.kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const shardId = shards.Shards?.[0]?.ShardId as string;
  const it = await stack.kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
  const out = await stack.kinesis.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
  return (out.Records ?? []).map((r) => ({ data: Buffer.from(r.Data ?? new Uint8Array()).toString('utf8'), partitionKey: r.PartitionKey ?? '' }));
}

test('after the fix, a requeued unprocessable event is stored exactly once and its dead letter marked requeued', async () => {
  const s = await scenario();
  const { culprit } = await unprocessableEvent(s);
  await fixTheBug(s.db);

  const run = await runCommand(s, ['--reason', 'unprocessable']);

  expect(run.code).toBe(0);
  expect(run.summary).toMatchObject({ dryRun: false, selected: 1, requeued: 1, failed: 0 });
  await waitFor(async () => (await count(s.db, 'SELECT count(*) AS n FROM observations WHERE event_id = $1', [culprit.eventId])) === 1, 20_000);
  expect(await count(s.db, 'SELECT count(*) AS n FROM observations')).toBe(3);
  expect(await count(s.db, 'SELECT count(*) AS n FROM dead_letters WHERE requeued_at IS NOT NULL')).toBe(1);
  // The processor took the requeued record as a valid event: no new dead letter.
  expect(await count(s.db, 'SELECT count(*) AS n FROM dead_letters')).toBe(1);
}, 90_000);

test('a second requeue run selects nothing and puts nothing', async () => {
  const s = await scenario();
  await unprocessableEvent(s);
  await fixTheBug(s.db);
  await runCommand(s, ['--reason', 'unprocessable']);
  const recordsAfterFirst = (await streamRecords(s.stream)).length;

  const second = await runCommand(s, ['--reason', 'unprocessable']);

  expect(second.code).toBe(0);
  expect(second.summary).toMatchObject({ selected: 0, requeued: 0, failed: 0 });
  expect((await streamRecords(s.stream)).length).toBe(recordsAfterFirst);
}, 90_000);

test('a dry run counts the matching dead letters and changes nothing', async () => {
  const s = await scenario();
  await unprocessableEvent(s);
  await fixTheBug(s.db);
  const recordsBefore = (await streamRecords(s.stream)).length;

  const dry = await runCommand(s, ['--reason', 'unprocessable', '--dry-run']);

  expect(dry.code).toBe(0);
  expect(dry.summary).toMatchObject({ dryRun: true, selected: 1, requested: 0 });
  expect(await count(s.db, 'SELECT count(*) AS n FROM dead_letters WHERE requeued_at IS NOT NULL OR requeue_requested_at IS NOT NULL')).toBe(0);
  expect((await streamRecords(s.stream)).length).toBe(recordsBefore);
  await new Promise((r) => setTimeout(r, 1_000)); // give a wrongly re-put record time to be stored
  expect(await count(s.db, 'SELECT count(*) AS n FROM observations')).toBe(2);
}, 90_000);

test('no output line of the command contains a patient id, a payload or a device id', async () => {
  const s = await scenario();
  const { patientId, culprit } = await unprocessableEvent(s);
  await fixTheBug(s.db);

  const dry = await runCommand(s, ['--dry-run']);
  const real = await runCommand(s, []);

  const output = [...dry.lines, ...real.lines].join('\n');
  expect(real.summary).toMatchObject({ requeued: 1 });
  expect(output).not.toContain(patientId);
  expect(output).not.toContain(String(culprit.eventId));
  expect(output).not.toContain('monitor-7');
  expect(processorLogs.join('\n')).not.toContain(patientId);
}, 90_000);

test('the reason and time filters select only matching dead letters', async () => {
  const s = await scenario();
  await unprocessableEvent(s);
  await putRecords(stack.kinesis, s.stream, [{ data: 'not json {', partitionKey: 'x' }]);
  await waitFor(async () => (await count(s.db, "SELECT count(*) AS n FROM dead_letters WHERE reason = 'undecodable'")) === 1, 20_000);
  const future = new Date(Date.now() + 3_600_000).toISOString();

  expect((await runCommand(s, ['--dry-run'])).summary).toMatchObject({ selected: 2 });
  expect((await runCommand(s, ['--dry-run', '--reason', 'undecodable'])).summary).toMatchObject({ selected: 1 });
  expect((await runCommand(s, ['--dry-run', '--reason', 'invalid'])).summary).toMatchObject({ selected: 0 });
  expect((await runCommand(s, ['--dry-run', '--since', future])).summary).toMatchObject({ selected: 0 });
  expect((await runCommand(s, ['--dry-run', '--until', future])).summary).toMatchObject({ selected: 2 });
  expect((await runCommand(s, ['--dry-run', '--limit', '1'])).summary).toMatchObject({ selected: 1 });
}, 90_000);

test('an undecodable payload goes back byte for byte under a stable hashed partition key, and a valid one under its device id', async () => {
  const s = await scenario();
  const invalid = makeEvent({ deviceId: 'monitor-9', pulse: 900 }); // outside the physiological range
  await putRecords(stack.kinesis, s.stream, [{ data: 'not json {', partitionKey: 'x' }, eventRecord(invalid)]);
  const p = runProcessor(s);
  await waitFor(async () => (await count(s.db, 'SELECT count(*) AS n FROM dead_letters')) === 2, 20_000);
  await p.stop();
  running.splice(running.indexOf(p), 1);

  const run = await runCommand(s, []);

  expect(run.summary).toMatchObject({ selected: 2, requeued: 2, failed: 0 });
  const requeued = (await streamRecords(s.stream)).slice(2);
  expect(requeued.map((r) => r.data).sort()).toEqual([JSON.stringify(invalid), 'not json {'].sort());
  const undecodable = requeued.find((r) => r.data === 'not json {');
  expect(undecodable?.partitionKey).toMatch(/^dead-letter-[0-9a-f]{32}$/);
  expect(requeued.find((r) => r.data !== 'not json {')?.partitionKey).toBe('monitor-9');
}, 90_000);

test('entries Kinesis refuses are retried, and an entry it keeps refusing stays unmarked and counts as failed', async () => {
  const s = await scenario();
  await putRecords(stack.kinesis, s.stream, ['a {', 'b {', 'c {'].map((data) => ({ data, partitionKey: 'x' })));
  const p = runProcessor(s);
  await waitFor(async () => (await count(s.db, 'SELECT count(*) AS n FROM dead_letters')) === 3, 20_000);
  await p.stop();
  running.splice(running.indexOf(p), 1);
  // Kinesis refuses "a {" always and "b {" on the first two attempts (per-entry ErrorCode, as throttling does).
  let calls = 0;
  const flaky: PutRecordsClient = {
    send: async (command: PutRecordsCommand): Promise<PutRecordsCommandOutput> => {
      calls++;
      const records = command.input.Records ?? [];
      const refuse = records.map((r) => {
        const text = Buffer.from(r.Data ?? new Uint8Array()).toString();
        return text === 'a {' || (text === 'b {' && calls <= 2);
      });
      const accepted = records.filter((_, i) => !refuse[i]);
      const out = accepted.length > 0 ? await stack.kinesis.send(new PutRecordsCommand({ ...command.input, Records: accepted })) : { Records: [] };
      let j = 0;
      return {
        $metadata: {},
        FailedRecordCount: refuse.filter(Boolean).length,
        Records: refuse.map((r) => (r ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' } : (out.Records ?? [])[j++] ?? {})),
      };
    },
  };
  const phi = createDeadLetterProtector({ kind: 'local', keyFile: stack.keyFile }, pgDataKeyStore(s.db));

  const summary = await requeueDeadLetters({ streamName: s.stream, maxAttempts: 4 }, { db: s.db, kinesis: flaky, phi, sleep: async () => undefined });

  expect(summary).toMatchObject({ selected: 3, requeued: 2, failed: 1, failures: { ProvisionedThroughputExceededException: 1 } });
  expect(calls).toBe(4);
  const { rows } = await s.db.query<{ id: string; requeued: boolean }>('SELECT dead_letter_id::text AS id, requeued_at IS NOT NULL AS requeued FROM dead_letters ORDER BY dead_letter_id');
  expect(rows.map((r) => r.requeued)).toEqual([false, true, true]);
  expect(summary.failedDeadLetterIds).toEqual([rows[0]?.id]);
}, 90_000);

test('a dead letter whose payload cannot be decrypted counts as failed and the others are still requeued', async () => {
  const s = await scenario();
  await putRecords(stack.kinesis, s.stream, ['a {', 'b {'].map((data) => ({ data, partitionKey: 'x' })));
  const p = runProcessor(s);
  await waitFor(async () => (await count(s.db, 'SELECT count(*) AS n FROM dead_letters')) === 2, 20_000);
  await p.stop();
  running.splice(running.indexOf(p), 1);
  // Tampered ciphertext: AES-GCM authentication fails.
  await s.db.query(`UPDATE dead_letters SET payload_ciphertext = set_byte(payload_ciphertext, 13, (get_byte(payload_ciphertext, 13) + 1) % 256)
                    WHERE dead_letter_id = (SELECT min(dead_letter_id) FROM dead_letters)`);

  const run = await runCommand(s, []);

  expect(run.code).toBe(2);
  expect(run.summary).toMatchObject({ selected: 2, requeued: 1, failed: 1, failures: { decrypt: 1 } });
  expect(await count(s.db, 'SELECT count(*) AS n FROM dead_letters WHERE requeued_at IS NULL')).toBe(1);
}, 90_000);

test('a sweep while another holds the lock skips the round and leaves the request pending', async () => {
  const s = await scenario();
  await unprocessableEvent(s);
  await fixTheBug(s.db);
  expect((await main([], commandEnv(s), () => undefined))).toBe(0);
  const holder = await s.db.connect();
  await holder.query("SELECT pg_advisory_lock(hashtext('vitals_requeue_dead_letters'))");
  try {
    expect(await sweep(s)).toMatchObject({ selected: 0, requeued: 0 });
    expect(await count(s.db, 'SELECT count(*) AS n FROM dead_letters WHERE requeue_requested_at IS NOT NULL AND requeued_at IS NULL')).toBe(1);
  } finally {
    await holder.query("SELECT pg_advisory_unlock(hashtext('vitals_requeue_dead_letters'))");
    holder.release();
  }
  expect(await sweep(s)).toMatchObject({ selected: 1, requeued: 1 });
}, 90_000);

test('the sweep requeues only what an operator requested', async () => {
  const s = await scenario();
  await unprocessableEvent(s);
  await fixTheBug(s.db);

  expect(await sweep(s)).toMatchObject({ selected: 0, requeued: 0 });
  expect(await count(s.db, 'SELECT count(*) AS n FROM dead_letters WHERE requeued_at IS NOT NULL')).toBe(0);
}, 90_000);

test('the ops role reads no payload, error text, patient or key, and requests nothing twice', async () => {
  const s = await scenario();
  await unprocessableEvent(s);
  const ops = createPool({ ...processorDb(stack, s.database), user: 'vitals_ops', auth: { kind: 'password', password: OPS_PASSWORD }, maxConnections: 1 });
  ops.on('error', () => undefined);
  pools.push(ops);
  for (const sql of ['SELECT payload_ciphertext FROM dead_letters', 'SELECT errors FROM dead_letters', 'SELECT * FROM patients', 'SELECT * FROM data_keys', 'SELECT * FROM observations']) {
    await expect(ops.query(sql)).rejects.toMatchObject({ code: '42501' }); // insufficient_privilege
  }
  await expect(ops.query('UPDATE dead_letters SET requeued_at = now()')).rejects.toMatchObject({ code: '42501' });
  const first = await runCommand(s, ['--dry-run']);
  expect(first.summary).toMatchObject({ dryRun: true, selected: 1 });
  expect((await main([], commandEnv(s), () => undefined))).toBe(0);
  expect((await runCommand(s, ['--dry-run'])).summary).toMatchObject({ selected: 0 });
}, 90_000);

test('large payloads are requeued in pages of at most 5 MiB, every one accepted and marked', async () => {
  const s = await scenario();
  // Eleven undecodable records of ~1 MiB (Kinesis' record limit): three PutRecords requests at least.
  const big = Array.from({ length: 11 }, (_, i) => ({ data: `${i} `.padEnd(1024 * 1024 - 300, 'x'), partitionKey: `k${i}` }));
  for (const r of big) await putRecords(stack.kinesis, s.stream, [r]);
  const p = runProcessor(s);
  await waitFor(async () => (await count(s.db, 'SELECT count(*) AS n FROM dead_letters')) === 11, 30_000);
  await p.stop();
  running.splice(running.indexOf(p), 1);
  const requests: number[] = [];
  const counting: PutRecordsClient = {
    send: async (command: PutRecordsCommand): Promise<PutRecordsCommandOutput> => {
      requests.push((command.input.Records ?? []).reduce((n, r) => n + (r.Data?.length ?? 0) + Buffer.byteLength(r.PartitionKey ?? ''), 0));
      return stack.kinesis.send(command);
    },
  };
  const phi = createDeadLetterProtector({ kind: 'local', keyFile: stack.keyFile }, pgDataKeyStore(s.db));

  const summary = await requeueDeadLetters({ streamName: s.stream }, { db: s.db, kinesis: counting, phi });

  expect(summary).toMatchObject({ selected: 11, requeued: 11, failed: 0 });
  expect(requests.length).toBeGreaterThanOrEqual(3);
  for (const bytes of requests) expect(bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
  expect(await count(s.db, 'SELECT count(*) AS n FROM dead_letters WHERE requeued_at IS NULL')).toBe(0);
}, 120_000);
