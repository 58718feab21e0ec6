/**
 * Fault injection, database side: real processor processes (the container's entry point) read a
 * stream that is being written while PostgreSQL is stopped and restarted, while the server
 * terminates their connections (pg_terminate_backend, as an Aurora failover does), and while the
 * database refuses writes (25006, a writer demoted by a failover). Each scenario asserts
 * conservation (every acknowledged valid event stored exactly once, every malformed record
 * dead-lettered), that no processor exits on its own, and that the lag returns to zero within
 * RECOVERY_TIMEOUT_MS of the fault ending; recovery times are printed, never asserted.
 */
import type { Pool } from 'pg';
import { CYCLES, finishScenario, healthOf, RECOVERY_TIMEOUT_MS, recovered, sleep, startFaultStack, startScenario as start, timeUntil, type FaultStack, type Scenario } from './support/faults';

let stack: FaultStack;
const pools: Pool[] = [];

beforeAll(async () => {
  stack = await startFaultStack();
}, 90_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await stack?.stop();
});

const startScenario = (): Promise<Scenario> => start(stack, pools);
const finish = finishScenario;

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
