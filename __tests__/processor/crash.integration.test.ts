/**
 * Crash test: the real processor entry point runs as a child process and is killed with SIGKILL at
 * random moments while a producer writes events (with duplicates and malformed records). After a final
 * clean run, every valid event must be stored exactly once and every malformed record dead-lettered once.
 * Also the PHI check for child processes: no output line of any run contains a patient identifier.
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { freePort } from '../../src/local/servers';
import { startChild } from './support/child';
import {
  adminPool,
  count,
  createStream,
  eventRecord,
  makeEvent,
  makePatientId,
  newDatabase,
  processorEnv,
  putRecords,
  startStack,
  waitFor,
  type OutRecord,
  type TestStack,
} from './support/stack';

const KILLS = 5;
const UNIQUE_EVENTS = 4_500;
const DUPLICATES = 300;
const MALFORMED = 200;
const CHUNKS = 20;

let stack: TestStack;
let db: Pool;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await db?.end();
  await stack?.stop();
});

test('a processor killed with SIGKILL at random moments neither loses nor duplicates events', async () => {
  const database = await newDatabase(stack);
  db = adminPool(stack, database);
  const stream = `crash-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 4);

  const patients = Array.from({ length: 50 }, () => makePatientId());
  const valid = Array.from({ length: UNIQUE_EVENTS }, (_, i) =>
    makeEvent({ patientId: patients[i % patients.length], deviceId: `monitor-${i % 97}`, observedAt: new Date(Date.now() - 120_000 + i * 10) }),
  );
  const records: OutRecord[] = valid.map(eventRecord);
  for (let i = 0; i < DUPLICATES; i++) {
    const e = valid[(i * 13) % UNIQUE_EVENTS] as Record<string, unknown>;
    records.push(i % 2 === 0 ? eventRecord(e) : { data: JSON.stringify(e), partitionKey: `retry-${i}` });
  }
  for (let i = 0; i < MALFORMED; i++) {
    const pid = patients[i % patients.length] as string;
    const kind = i % 3;
    const data =
      kind === 0
        ? `{"patientId":"${pid}","eventId":` // truncated JSON that still carries PHI
        : kind === 1
          ? JSON.stringify(makeEvent({ patientId: pid, pulse: 999 })) // impossible pulse
          : JSON.stringify({ ...makeEvent({ patientId: pid }), vitals: {} }); // no vitals
    records.push({ data, partitionKey: `bad-${i}` });
  }
  // Shuffle deterministically-enough so duplicates and malformed records interleave with valid ones.
  for (let i = records.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [records[i], records[j]] = [records[j] as OutRecord, records[i] as OutRecord];
  }

  const output: string[] = [];
  const baseEnv = processorEnv(stack, database, stream, {
    LOG_LEVEL: 'debug',
    LEASE_TTL_MS: '2000',
    LEASE_RENEW_MS: '400',
    SHARD_SYNC_MS: '1000',
    IDLE_POLL_MS: '200',
    MAX_RECORDS_PER_CALL: '150', // many small transactions: kills land mid-batch
    METRICS_FLUSH_MS: '1000',
  });

  const chunkSize = Math.ceil(records.length / CHUNKS);
  const producer = (async () => {
    for (let i = 0; i < records.length; i += chunkSize) {
      await putRecords(stack.kinesis, stream, records.slice(i, i + chunkSize));
      await new Promise((r) => setTimeout(r, 800)); // production spans all the kills
    }
  })();

  let kills = 0;
  const killedAfterMs: number[] = [];
  const storedAtKill: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    const child = startChild({ ...baseEnv, HEALTH_PORT: String(await freePort()) }, output);
    await child.ready;
    const delay = 100 + Math.floor(Math.random() * 1_400);
    await new Promise((r) => setTimeout(r, delay));
    child.proc.kill('SIGKILL');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');
    kills++;
    killedAfterMs.push(delay);
    storedAtKill.push(await count(db, 'SELECT count(*) AS n FROM observations'));
  }
  await producer;

  const storedBeforeFinal = await count(db, 'SELECT count(*) AS n FROM observations');
  const final = startChild({ ...baseEnv, HEALTH_PORT: String(await freePort()) }, output);
  await final.ready;
  await waitFor(
    async () =>
      (await count(db, 'SELECT count(*) AS n FROM observations')) >= UNIQUE_EVENTS &&
      (await count(db, 'SELECT count(*) AS n FROM dead_letters')) >= MALFORMED,
    60_000,
    500,
  );
  await new Promise((r) => setTimeout(r, 1_000)); // anything extra (a duplicate) would show up now
  final.proc.kill('SIGTERM');
  const finalExit = await final.exited;

  const total = await count(db, 'SELECT count(*) AS n FROM observations');
  const distinct = await count(db, 'SELECT count(DISTINCT event_id) AS n FROM observations');
  const { rows } = await db.query<{ event_id: string }>('SELECT event_id FROM observations');
  const stored = new Set(rows.map((r) => r.event_id));
  const lost = valid.filter((e) => !stored.has(String(e.eventId))).length;
  const deadLetters = await count(db, 'SELECT count(*) AS n FROM dead_letters');
  const scores = await count(db, 'SELECT count(*) AS n FROM news2_scores');
  const distinctScores = await count(db, 'SELECT count(DISTINCT event_id) AS n FROM news2_scores');

  console.log(
    `crash test: kills=${kills} (after ${killedAfterMs.join(', ')} ms of running), records produced=${records.length} ` +
      `(valid unique=${UNIQUE_EVENTS}, duplicates=${DUPLICATES}, malformed=${MALFORMED}), stored at each kill=${storedAtKill.join('/')}, ` +
      `stored before final run=${storedBeforeFinal}, ` +
      `stored=${total}, distinct=${distinct}, lost=${lost}, duplicated=${total - distinct}, dead letters=${deadLetters}, scores=${scores}`,
  );

  expect(finalExit.code).toBe(0);
  expect(kills).toBe(KILLS);
  expect(lost).toBe(0);
  expect(total).toBe(UNIQUE_EVENTS);
  expect(distinct).toBe(UNIQUE_EVENTS);
  expect(deadLetters).toBe(MALFORMED);
  expect(scores).toBe(distinctScores);
  expect(await count(db, 'SELECT count(*) AS n FROM latest_vitals')).toBe(patients.length);
  expect(output.some((l) => l.includes('"_aws"'))).toBe(true); // EMF metrics were emitted

  const leaks = output.filter((line) => patients.some((id) => line.includes(id)));
  expect(leaks).toEqual([]);
}, 150_000);
