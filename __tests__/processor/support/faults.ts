/**
 * Fault-injection support: servers that can be stopped, killed and restarted under a running
 * pipeline (PostgreSQL on the same port and data directory, kinesalite as its own process with a
 * LevelDB directory), a producer that records what Kinesis acknowledged, the conservation check,
 * and recovery-time bookkeeping (printed, never asserted).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Pool } from 'pg';
import { kinesisClientFor } from '../../../src/adapters/kinesis-client';
import { freePort, startKinesaliteProcess, startPostgres, tempDataDir, type KinesaliteProcess, type PostgresServer } from '../../../src/local/servers';
import { startChild, type Child } from './child';
import { adminClient, adminPool, count, createStream, makeEvent, makePatientId, newDatabase, processorEnv, REPO_ROOT, runMigrations, type TestStack } from './stack';

/** The lag must be back to zero this long after a fault ends (generous: a loaded 2-core machine). */
export const RECOVERY_TIMEOUT_MS = 90_000;
/** Each fault is injected this many times per scenario (median and worst are reported). */
export const CYCLES = 3;

const TEMPLATE_DB = 'vitals_template';

export interface FaultStack extends TestStack {
  /** The current kinesalite process (a new one after each restart; same port and data). */
  readonly kinesaliteProcess: () => KinesaliteProcess;
  /** Stops PostgreSQL ("fast" shutdown: every connection is closed), waits `downMs`, starts it again on the same port. */
  restartPostgres(downMs: number): Promise<void>;
  stopPostgres(): Promise<void>;
  /** Starts PostgreSQL again on the same port (no-op while it runs). */
  startPostgresAgain(): Promise<void>;
  /** SIGKILLs kinesalite (a crash), waits `downMs`, starts it again on the same port and data directory. */
  restartKinesalite(downMs: number): Promise<void>;
}

export async function startFaultStack(): Promise<FaultStack> {
  const pgDir = tempDataDir();
  const kinesisDir = mkdtempSync(join(tmpdir(), 'vitals-kinesis-'));
  let kinesalite = await startKinesaliteProcess({ dataDir: kinesisDir });
  let pg: PostgresServer = await startPostgres({ dataDir: pgDir, tls: true });
  let pgDown = false;
  const port = pg.port;
  const c = await adminClient(pg);
  await c.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await c.end();
  await runMigrations(pg, TEMPLATE_DB);
  const keyDir = mkdtempSync(join(tmpdir(), 'vitals-key-'));
  const keyFile = join(keyDir, 'phi.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  const kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint });
  const stack: FaultStack = {
    kinesalite: { endpoint: kinesalite.endpoint, port: kinesalite.port, stop: () => kinesalite.stop() },
    get pg() {
      return pg;
    },
    kinesis,
    keyFile,
    kinesaliteProcess: () => kinesalite,
    stopPostgres: async () => {
      pgDown = true;
      await pg.stop();
    },
    startPostgresAgain: async () => {
      if (!pgDown) return;
      pg = await startPostgres({ dataDir: pgDir, tls: true, port });
      pgDown = false;
    },
    restartPostgres: async (downMs) => {
      await stack.stopPostgres();
      await sleep(downMs);
      await stack.startPostgresAgain();
    },
    restartKinesalite: async (downMs) => {
      kinesalite.kill('SIGKILL');
      await kinesalite.exited;
      await sleep(downMs);
      kinesalite = await startKinesaliteProcess({ dataDir: kinesisDir, port: kinesalite.port });
    },
    stop: async () => {
      kinesis.destroy();
      await Promise.all([kinesalite.stop(), pg.stop()]);
    },
  };
  return stack;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What Kinesis acknowledged, by kind, with each record's shard and sequence number. */
export interface Acknowledged {
  readonly validIds: Set<string>;
  /** `<shard>/<sequence number>` of malformed records Kinesis acknowledged. */
  readonly malformed: Set<string>;
  /** Highest acknowledged sequence number per shard. */
  readonly lastSequence: Map<string, bigint>;
  duplicatesSent: number;
}

interface PlannedRecord {
  readonly data: Buffer;
  readonly partitionKey: string;
  readonly kind: 'valid' | 'duplicate' | 'malformed';
  readonly eventId?: string;
}

/**
 * Writes a stream of events (valid, re-sent duplicates, malformed) at about `ratePerSec` in batches,
 * re-sending whatever Kinesis did not acknowledge (throttled entries, or the whole call while
 * kinesalite is down) until it is acknowledged.
 */
export class Producer {
  readonly acked: Acknowledged = { validIds: new Set(), malformed: new Set(), lastSequence: new Map(), duplicatesSent: 0 };
  readonly patients: string[];
  failedCalls = 0;
  private stopped = false;
  private running?: Promise<void>;
  private n = 0;
  private readonly sent: Array<{ eventId: string; event: Record<string, unknown> }> = [];

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly stream: string,
    private readonly ratePerSec = 400,
    /** Distinct patients (each new one costs a pseudonym: a KMS GenerateMac call on AWS). */
    patients = 40,
  ) {
    this.patients = Array.from({ length: patients }, () => makePatientId());
  }

  start(): void {
    this.running = this.loop();
  }

  /** Stops after the batch in flight is acknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private plan(size: number): PlannedRecord[] {
    const out: PlannedRecord[] = [];
    for (let i = 0; i < size; i++) {
      const k = this.n++;
      if (k % 40 === 17) {
        const pid = this.patients[k % this.patients.length] as string;
        out.push({ data: Buffer.from(k % 80 === 17 ? `{"patientId":"${pid}","eventId":` : JSON.stringify(makeEvent({ patientId: pid, pulse: 999 }))), partitionKey: `bad-${k}`, kind: 'malformed' });
      } else if (k % 40 === 29 && this.sent.length > 0) {
        const again = this.sent[(k * 7) % this.sent.length] as { eventId: string; event: Record<string, unknown> };
        out.push({ data: Buffer.from(JSON.stringify(again.event)), partitionKey: String(again.event.deviceId), kind: 'duplicate', eventId: again.eventId });
      } else {
        const eventId = randomUUID();
        const event = makeEvent({ eventId, patientId: this.patients[k % this.patients.length], deviceId: `monitor-${k % 61}`, observedAt: new Date(Date.now() - 1_000) });
        this.sent.push({ eventId, event });
        out.push({ data: Buffer.from(JSON.stringify(event)), partitionKey: String(event.deviceId), kind: 'valid', eventId });
      }
    }
    return out;
  }

  private async loop(): Promise<void> {
    const batch = Math.max(1, Math.round(this.ratePerSec / 5));
    while (!this.stopped) {
      const started = Date.now();
      let pending = this.plan(batch);
      while (pending.length > 0) {
        try {
          const out = await this.kinesis.send(new PutRecordsCommand({ StreamName: this.stream, Records: pending.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })) }));
          const retry: PlannedRecord[] = [];
          pending.forEach((r, i) => {
            const res = out.Records?.[i];
            if (!res || res.ErrorCode || !res.SequenceNumber || !res.ShardId) return void retry.push(r);
            this.acknowledge(r, res.ShardId, res.SequenceNumber);
          });
          pending = retry;
        } catch {
          this.failedCalls++; // kinesalite down, or an injected fault: send again
        }
        if (pending.length > 0) await sleep(200);
      }
      await sleep(Math.max(0, 200 - (Date.now() - started)));
    }
  }

  private acknowledge(r: PlannedRecord, shardId: string, sequenceNumber: string): void {
    const seq = BigInt(sequenceNumber);
    if (seq > (this.acked.lastSequence.get(shardId) ?? -1n)) this.acked.lastSequence.set(shardId, seq);
    if (r.kind === 'valid') this.acked.validIds.add(r.eventId as string);
    else if (r.kind === 'duplicate') this.acked.duplicatesSent++;
    else this.acked.malformed.add(`${shardId}/${sequenceNumber}`);
  }

  /** Snapshot of the highest acknowledged sequence number per shard. */
  watermark(): Map<string, bigint> {
    return new Map(this.acked.lastSequence);
  }
}

/** True once every shard's committed checkpoint has reached the given sequence numbers (the lag is zero). */
export async function caughtUp(db: Pool, stream: string, watermark: ReadonlyMap<string, bigint>): Promise<boolean> {
  const { rows } = await db.query<{ shard_id: string; checkpoint: string | null }>('SELECT shard_id, checkpoint FROM shard_leases WHERE stream_name = $1', [stream]);
  const checkpoints = new Map(rows.map((r) => [r.shard_id, r.checkpoint === null ? -1n : BigInt(r.checkpoint)]));
  return [...watermark].every(([shard, seq]) => (checkpoints.get(shard) ?? -1n) >= seq);
}

/** Polls until `check` passes; returns how long it took (ms). Throws after `timeoutMs`. */
export async function timeUntil(check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 100): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      if (await check()) return Date.now() - started;
    } catch (err) {
      // The database may still be coming back; a processor death ends the wait at once.
      if ((err as Error).message.startsWith('processor died')) throw err;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

export interface Conservation {
  readonly validAcknowledged: number;
  readonly stored: number;
  readonly distinctStored: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly malformedAcknowledged: number;
  readonly malformedDeadLettered: number;
}

/** Every acknowledged valid event stored exactly once; every acknowledged malformed record dead-lettered. */
export async function conservation(db: Pool, producer: Producer): Promise<Conservation> {
  const { rows } = await db.query<{ event_id: string }>('SELECT event_id FROM observations');
  const stored = new Set(rows.map((r) => r.event_id));
  let lost = 0;
  for (const id of producer.acked.validIds) if (!stored.has(id)) lost++;
  const dl = await db.query<{ k: string }>("SELECT shard_id || '/' || sequence_number AS k FROM dead_letters");
  const dead = new Set(dl.rows.map((r) => r.k));
  let malformedDeadLettered = 0;
  for (const k of producer.acked.malformed) if (dead.has(k)) malformedDeadLettered++;
  return {
    validAcknowledged: producer.acked.validIds.size,
    stored: rows.length,
    distinctStored: stored.size,
    lost,
    duplicated: rows.length - stored.size,
    malformedAcknowledged: producer.acked.malformed.size,
    malformedDeadLettered,
  };
}

export function expectConserved(c: Conservation): void {
  expect(c.lost).toBe(0);
  expect(c.duplicated).toBe(0);
  expect(c.distinctStored).toBeGreaterThanOrEqual(c.validAcknowledged);
  expect(c.malformedDeadLettered).toBe(c.malformedAcknowledged);
}

/** GET /health of a processor: HTTP status and the reported status. */
export function healthOf(port: number): Promise<{ code: number; status: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/health', timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        try {
          resolve({ code: res.statusCode ?? 0, status: String((JSON.parse(body) as { status?: string }).status) });
        } catch {
          resolve({ code: res.statusCode ?? 0, status: 'unparseable' });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('health timeout')));
    req.on('error', reject);
  });
}

/** Median and worst of a list of figures. */
export function summarise(ms: readonly number[]): { median: number; worst: number; runs: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? (sorted[mid] as number) : Math.round(((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2);
  return { median, worst: sorted[sorted.length - 1] ?? 0, runs: sorted.length };
}

/**
 * Prints a fault's figures and appends them to `.tmp/fault-results.jsonl` (figures for the report,
 * never assertions: this machine's timings are noisy).
 */
export function reportFault(fault: string, recoveriesMs: readonly number[], c: Conservation, extra: Record<string, unknown> = {}): void {
  const line = { fault, recovery_ms: recoveriesMs, ...summarise(recoveriesMs), lost: c.lost, duplicated: c.duplicated, valid_acknowledged: c.validAcknowledged, malformed_dead_lettered: c.malformedDeadLettered, ...extra, at: new Date().toISOString() };
  console.log(`fault figures: ${JSON.stringify(line)}`);
  const dir = join(REPO_ROOT, '.tmp');
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, 'fault-results.jsonl'), `${JSON.stringify(line)}\n`);
}

export interface Scenario {
  readonly db: Pool;
  readonly stream: string;
  readonly producer: Producer;
  readonly children: Array<{ child: Child; healthPort: number; output: string[]; stopping: boolean }>;
  /** Processors that exited while the test had not asked them to. */
  readonly diedOnTheirOwn: string[];
}

export async function startScenario(stack: FaultStack, pools: Pool[], processors = 2): Promise<Scenario> {
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
export async function recovered(s: Scenario, watermark: ReadonlyMap<string, bigint>): Promise<boolean> {
  if (s.diedOnTheirOwn.length > 0) throw new Error(`processor died: ${s.diedOnTheirOwn.join('; ')}`);
  return caughtUp(s.db, s.stream, watermark);
}

/** Stops producing, waits for the lag to reach zero, stops the processors (SIGTERM, exit 0), checks conservation. */
export async function finishScenario(s: Scenario, fault: string, recoveries: number[], extra: Record<string, unknown> = {}): Promise<void> {
  await s.producer.stop();
  const last = s.producer.watermark();
  await timeUntil(() => recovered(s, last), RECOVERY_TIMEOUT_MS, 'final catch-up').catch(() => undefined); // asserted below
  await sleep(500); // a duplicate commit would show up now
  const died = [...s.diedOnTheirOwn];
  const codes = await Promise.all(
    s.children.map(async (c) => {
      c.stopping = true;
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

export { count };
