/**
 * Fault injection, database side: real processor processes (the container's entry point) read a
 * stream that is being written while PostgreSQL is stopped and restarted, while the server
 * terminates their connections (pg_terminate_backend, as an Aurora failover does), and while the
 * database refuses writes (25006, a writer demoted by a failover). Each scenario asserts
 * conservation (every acknowledged valid event stored exactly once, every malformed record
 * dead-lettered), that no processor exits on its own, and that the lag returns to zero within
 * RECOVERY_TIMEOUT_MS of the fault ending; recovery times are printed, never asserted.
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { freePort } from '../../src/local/servers';
import { startChild, type Child } from './support/child';
import { caughtUp, conservation, expectConserved, healthOf, Producer, reportFault, sleep, startFaultStack, timeUntil, type FaultStack } from './support/faults';
import { adminPool, createStream, newDatabase, processorEnv } from './support/stack';

/** The lag must be back to zero this long after a fault ends (generous: a loaded 2-core machine). */
const RECOVERY_TIMEOUT_MS = 90_000;
const CYCLES = 3;

let stack: FaultStack;
const pools: Pool[] = [];

beforeAll(async () => {
  stack = await startFaultStack();
}, 90_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await stack?.stop();
});

interface Scenario {
  readonly db: Pool;
  readonly stream: string;
  readonly producer: Producer;
  readonly children: Array<{ child: Child; healthPort: number; output: string[] }>;
  /** Processors that exited while the test had not asked them to. */
  readonly diedOnTheirOwn: string[];
}

async function startScenario(processors = 2): Promise<Scenario> {
  const database = await newDatabase(stack);
  const db = adminPool(stack, database);
  pools.push(db);
  const stream = `faults-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 4);
  const diedOnTheirOwn: string[] = [];
  const children: Scenario['children'] = [];
  for (let n = 1; n <= processors; n++) {
    const healthPort = await freePort();
    const output: string[] = [];
    const child = startChild(
      processorEnv(stack, database, stream, {
        WORKER_ID: `fault-worker-${n}`,
        HEALTH_PORT: String(healthPort),
        LEASE_TTL_MS: '2000',
        LEASE_RENEW_MS: '400',
        SHARD_SYNC_MS: '1000',
        IDLE_POLL_MS: '200',
        MAX_RECORDS_PER_CALL: '500',
        METRICS_FLUSH_MS: '1000',
        DB_UNREACHABLE_DEGRADED_MS: '2000',
      }),
      output,
    );
    const entry = { child, healthPort, output, stopping: false };
    void child.exited.then((exit) => {
      if (!entry.stopping) diedOnTheirOwn.push(`fault-worker-${n} exited (code ${exit.code}, signal ${exit.signal}): ${output.filter((l) => /error|fatal/i.test(l)).slice(-3).join(' | ')}`);
    });
    children.push(entry);
  }
  await Promise.all(children.map((c) => c.child.ready));
  const producer = new Producer(stack.kinesis, stream, 400);
  producer.start();
  return { db, stream, producer, children, diedOnTheirOwn };
}

/** The lag is back to zero; throws at once when a processor has died (it never would catch up). */
async function recovered(s: Scenario, watermark: ReadonlyMap<string, bigint>): Promise<boolean> {
  if (s.diedOnTheirOwn.length > 0) throw new Error(`processor died: ${s.diedOnTheirOwn.join('; ')}`);
  return caughtUp(s.db, s.stream, watermark);
}

/** Stops producing, waits for the lag to reach zero, stops the processors (SIGTERM, exit 0), checks conservation. */
async function finish(s: Scenario, fault: string, recoveries: number[], extra: Record<string, unknown> = {}): Promise<void> {
  await s.producer.stop();
  const last = s.producer.watermark();
  await timeUntil(() => recovered(s, last), RECOVERY_TIMEOUT_MS, 'final catch-up').catch(() => undefined); // asserted below
  await sleep(500); // a duplicate commit would show up now
  const died = [...s.diedOnTheirOwn];
  const codes = await Promise.all(
    s.children.map(async (c) => {
      (c as { stopping?: boolean }).stopping = true;
      c.child.proc.kill('SIGTERM');
      return (await c.child.exited).code;
    }),
  );
  const c = await conservation(s.db, s.producer);
  reportFault(fault, recoveries, c, { processor_deaths: died.length, producer_failed_calls: s.producer.failedCalls, ...extra });
  expect(died).toEqual([]);
  expect(await caughtUp(s.db, s.stream, last)).toBe(true);
  expect(codes).toEqual(s.children.map(() => 0));
  expectConserved(c);
  expect(c.validAcknowledged).toBeGreaterThan(500);
  expect(c.malformedAcknowledged).toBeGreaterThan(10);
  const patients = s.producer.patients;
  expect(s.children.flatMap((ch) => ch.output).filter((line) => patients.some((id) => line.includes(id)))).toEqual([]);
}

test('PostgreSQL stopped and restarted mid-stream: processors ride it out, report degraded health meanwhile, and lose or duplicate nothing', async () => {
  const s = await startScenario();
  const recoveries: number[] = [];
  const degradedSeen: string[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await sleep(2_000);
      await stack.stopPostgres();
      // Down for longer than DB_UNREACHABLE_DEGRADED_MS (2 s): health turns degraded (still 200).
      await sleep(4_000);
      const h = await healthOf(s.children[0]!.healthPort).catch((err: Error) => ({ code: 0, status: err.message }));
      degradedSeen.push(`${h.code} ${h.status}`);
      await stack.startPostgresAgain();
      const watermark = s.producer.watermark();
      recoveries.push(await timeUntil(() => recovered(s, watermark), RECOVERY_TIMEOUT_MS, 'catch-up after restart'));
      await timeUntil(async () => (await Promise.all(s.children.map((c) => healthOf(c.healthPort)))).every((x) => x.status === 'ok'), 30_000, 'health ok again');
    }
  } finally {
    await stack.startPostgresAgain(); // when the test failed while it was down
    await finish(s, 'postgresql-restart', recoveries, { health_during_outage: degradedSeen });
  }
  expect(degradedSeen).toEqual(Array.from({ length: CYCLES }, () => '200 degraded'));
}, 420_000);

test('connections terminated by the server (pg_terminate_backend, as in a failover): nothing lost, nothing duplicated, no processor dies', async () => {
  const s = await startScenario();
  const recoveries: number[] = [];
  const terminated: number[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await sleep(1_500);
      // A few rounds, so connections in the middle of a batch transaction are hit too, not only idle ones.
      let n = 0;
      for (let round = 0; round < 5; round++) {
        const { rowCount } = await s.db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'vitals_processor'");
        n += rowCount ?? 0;
        await sleep(150);
      }
      terminated.push(n);
      const watermark = s.producer.watermark();
      recoveries.push(await timeUntil(() => recovered(s, watermark), RECOVERY_TIMEOUT_MS, 'catch-up after termination'));
    }
  } finally {
    await finish(s, 'pg-terminate-backend', recoveries, { connections_terminated: terminated });
  }
  expect(terminated.every((n) => n > 0)).toBe(true);
}, 300_000);

test('a database that refuses writes (25006, a demoted writer) stalls the shards without loss and recovers once writes are accepted again', async () => {
  const s = await startScenario();
  const recoveries: number[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await sleep(1_500);
      // New sessions of the processor role are read-only, and existing ones are cut: what a
      // processor meets when DNS still points at the old writer, now a reader.
      await s.db.query('ALTER ROLE vitals_processor SET default_transaction_read_only = on');
      await s.db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'vitals_processor'");
      await sleep(3_000);
      await s.db.query('ALTER ROLE vitals_processor RESET default_transaction_read_only');
      const watermark = s.producer.watermark();
      recoveries.push(await timeUntil(() => recovered(s, watermark), RECOVERY_TIMEOUT_MS, 'catch-up after read-only'));
    }
  } finally {
    await s.db.query('ALTER ROLE vitals_processor RESET default_transaction_read_only').catch(() => undefined);
    await finish(s, 'read-only-25006', recoveries);
  }
  const readOnlyErrors = s.children.flatMap((c) => c.output).filter((l) => l.includes('"25006"')).length;
  expect(readOnlyErrors).toBeGreaterThan(0); // the fault was really met
}, 300_000);
