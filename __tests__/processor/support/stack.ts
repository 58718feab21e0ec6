/**
 * Test support: one kinesalite and one PostgreSQL (TLS) per test file, a migrated template database,
 * and a fresh database per test (CREATE DATABASE ... TEMPLATE), plus event builders and a producer.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { Client, Pool } from 'pg';
import { startKinesalite, startPostgres, tempDataDir, type KinesaliteServer, type PostgresServer } from '../../../src/local/servers';
import { tlsOptions, type DbSettings } from '../../../src/adapters/db';
import { kinesisClientFor } from '../../../src/adapters/kinesis-client';

const execFileAsync = promisify(execFile);
export const REPO_ROOT = join(__dirname, '..', '..', '..');
export const PROCESSOR_PASSWORD = `proc-${randomBytes(8).toString('hex')}`;
export const OPS_PASSWORD = `ops-${randomBytes(8).toString('hex')}`;
const TEMPLATE_DB = 'vitals_template';

export interface TestStack {
  readonly kinesalite: KinesaliteServer;
  readonly pg: PostgresServer;
  readonly kinesis: KinesisClient;
  readonly keyFile: string;
  stop(): Promise<void>;
}

/** Runs the real migration command (a child process: node-pg-migrate is ESM, which jest cannot load). */
export async function runMigrations(pg: PostgresServer, database: string, extraEnv: Record<string, string> = {}): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/db/migrate.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DB_HOST: pg.host,
      DB_PORT: String(pg.port),
      DB_NAME: database,
      DB_SSL_CA_FILE: pg.caFile,
      DB_ADMIN_USER: pg.adminUser,
      DB_ADMIN_PASSWORD: pg.adminPassword,
      DB_PROCESSOR_PASSWORD: PROCESSOR_PASSWORD,
      DB_OPS_PASSWORD: OPS_PASSWORD,
      ...extraEnv,
    },
  });
  return stdout;
}

export async function adminClient(pg: PostgresServer, database = 'postgres'): Promise<Client> {
  const c = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database, ssl: tlsOptions(pg.caFile) });
  await c.connect();
  return c;
}

export async function startStack(): Promise<TestStack> {
  const [kinesalite, pg] = await Promise.all([startKinesalite(), startPostgres({ dataDir: tempDataDir(), tls: true })]);
  const c = await adminClient(pg);
  await c.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await c.end();
  await runMigrations(pg, TEMPLATE_DB);
  const keyDir = mkdtempSync(join(tmpdir(), 'vitals-key-'));
  const keyFile = join(keyDir, 'phi.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  const kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint });
  return {
    kinesalite,
    pg,
    kinesis,
    keyFile,
    stop: async () => {
      kinesis.destroy();
      await Promise.all([kinesalite.stop(), pg.stop()]);
    },
  };
}

let dbCounter = 0;
/** A fresh, migrated database cloned from the template. */
export async function newDatabase(stack: TestStack): Promise<string> {
  const name = `vitals_t${process.pid}_${++dbCounter}`;
  const c = await adminClient(stack.pg);
  await c.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`);
  await c.end();
  return name;
}

export function processorDb(stack: TestStack, database: string): DbSettings {
  return {
    host: stack.pg.host,
    port: stack.pg.port,
    database,
    user: 'vitals_processor',
    sslCaFile: stack.pg.caFile,
    auth: { kind: 'password', password: PROCESSOR_PASSWORD },
  };
}

/** Admin pool for assertions (reads everything, including what the processor role may not). */
export function adminPool(stack: TestStack, database: string): Pool {
  const pool = new Pool({ host: stack.pg.host, port: stack.pg.port, user: stack.pg.adminUser, password: stack.pg.adminPassword, database, ssl: tlsOptions(stack.pg.caFile), max: 3 });
  // An idle connection closed by the server (shutdown at teardown) must not crash the test process;
  // a failing query still rejects.
  pool.on('error', () => undefined);
  return pool;
}

/** Environment for a processor child process. */
export function processorEnv(stack: TestStack, database: string, streamName: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'development',
    AWS_REGION: 'eu-central-2',
    STREAM_NAME: streamName,
    KINESIS_ENDPOINT: stack.kinesalite.endpoint,
    DB_HOST: stack.pg.host,
    DB_PORT: String(stack.pg.port),
    DB_NAME: database,
    DB_USER: 'vitals_processor',
    DB_AUTH: 'password',
    DB_PASSWORD: PROCESSOR_PASSWORD,
    DB_SSL_CA_FILE: stack.pg.caFile,
    PHI_LOCAL_KEY_FILE: stack.keyFile,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

export async function createStream(kinesis: KinesisClient, name: string, shards: number): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await waitFor(async () => {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    return s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
  }, 10_000);
}

export interface EventOptions {
  readonly eventId?: string;
  readonly patientId?: string;
  readonly deviceId?: string;
  readonly observedAt?: Date;
  readonly pulse?: number;
  readonly respirationRate?: number;
}

/** A complete reading set (all NEWS2 parameters), scored low unless overridden. */
export function makeEvent(o: EventOptions = {}): Record<string, unknown> {
  return {
    schemaVersion: 1,
    eventId: o.eventId ?? randomUUID(),
    deviceId: o.deviceId ?? 'monitor-1',
    patientId: o.patientId ?? 'MRN-1',
    facilityId: 'hospital-a',
    observedAt: (o.observedAt ?? new Date()).toISOString(),
    vitals: {
      pulse: { value: o.pulse ?? 72, unit: 'bpm' },
      respirationRate: { value: o.respirationRate ?? 16, unit: 'breaths/min' },
      spo2: { value: 97, unit: '%' },
      supplementalOxygen: false,
      systolicBp: { value: 120, unit: 'mmHg' },
      diastolicBp: { value: 80, unit: 'mmHg' },
      temperature: { value: 98.6, unit: '[degF]' },
      consciousness: 'A',
    },
  };
}

/** A patient id no log line may ever contain (distinctive enough to grep for). */
export function makePatientId(): string {
  return `MRN-${randomBytes(6).toString('hex').toUpperCase()}`;
}

export interface OutRecord {
  readonly data: Buffer | string;
  readonly partitionKey: string;
}

/** PutRecords in chunks of 500, re-sending records the stream rejected (throttling). */
export async function putRecords(kinesis: KinesisClient, streamName: string, records: readonly OutRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 500) {
    let pending = records.slice(i, i + 500);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 20) throw new Error('PutRecords kept failing');
      const out = await kinesis.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: pending.map((r) => ({ Data: typeof r.data === 'string' ? Buffer.from(r.data) : r.data, PartitionKey: r.partitionKey })),
        }),
      );
      pending = pending.filter((_, j) => out.Records?.[j]?.ErrorCode);
      if (pending.length) await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
  }
}

export function eventRecord(event: Record<string, unknown>): OutRecord {
  return { data: JSON.stringify(event), partitionKey: String(event.deviceId) };
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function count(pool: Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

export { spawn };
