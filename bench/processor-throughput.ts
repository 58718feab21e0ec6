/**
 * Throughput of one processor process against the local stack (kinesalite + PostgreSQL with TLS).
 *
 *   npx ts-node --transpile-only bench/processor-throughput.ts [events=100000] [shards=4]
 *
 * Pre-loads the events into the stream, then starts one processor (the real entry point, as a child
 * process) and measures from its start-up to the moment every event is committed. Prints figures;
 * asserts nothing. kinesalite and PostgreSQL run on the same machine and compete for its cores.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { Client } from 'pg';
import { freePort, startKinesalite, startPostgres, tempDataDir } from '../src/local/servers';
import { tlsOptions } from '../src/adapters/db';
import { kinesisClientFor } from '../src/adapters/kinesis-client';

const EVENTS = Number(process.argv[2] ?? 100_000);
const SHARDS = Number(process.argv[3] ?? 4);
const PATIENTS = 500;
const ROOT = join(__dirname, '..');

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const [kinesalite, pg] = await Promise.all([startKinesalite(), startPostgres({ dataDir: tempDataDir('vitals-bench-'), tls: true })]);
  const admin = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: 'postgres', ssl: tlsOptions(pg.caFile) });
  await admin.connect();
  await admin.query('CREATE DATABASE vitals');
  await admin.end();
  const processorPassword = randomBytes(12).toString('hex');
  const dbEnv = { DB_HOST: pg.host, DB_PORT: String(pg.port), DB_NAME: 'vitals', DB_SSL_CA_FILE: pg.caFile };
  await run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/db/migrate.ts'], {
    ...process.env,
    ...dbEnv,
    DB_ADMIN_USER: pg.adminUser,
    DB_ADMIN_PASSWORD: pg.adminPassword,
    DB_PROCESSOR_PASSWORD: processorPassword,
  });

  const kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint });
  const stream = 'vitals-bench';
  await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: SHARDS }));
  for (;;) {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const loadStarted = Date.now();
  const patients = Array.from({ length: PATIENTS }, (_, i) => `MRN-BENCH-${i}`);
  const t0 = Date.now() - EVENTS * 10;
  for (let i = 0; i < EVENTS; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(EVENTS, i + 500); j++) {
      const event = {
        schemaVersion: 1,
        eventId: randomUUID(),
        deviceId: `monitor-${j % (PATIENTS * 2)}`,
        patientId: patients[j % PATIENTS],
        facilityId: 'hospital-a',
        observedAt: new Date(t0 + j * 10).toISOString(),
        vitals: {
          pulse: { value: 60 + (j % 60), unit: 'bpm' },
          respirationRate: { value: 12 + (j % 10), unit: 'breaths/min' },
          spo2: { value: 92 + (j % 8), unit: '%' },
          supplementalOxygen: j % 7 === 0,
          systolicBp: { value: 100 + (j % 50), unit: 'mmHg' },
          diastolicBp: { value: 60 + (j % 30), unit: 'mmHg' },
          temperature: { value: 36 + (j % 30) / 10, unit: 'Cel' },
          consciousness: 'A',
        },
      };
      batch.push({ Data: Buffer.from(JSON.stringify(event)), PartitionKey: event.deviceId });
    }
    const out = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: batch }));
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records rejected while pre-loading`);
  }
  const loadMs = Date.now() - loadStarted;

  const keyDir = mkdtempSync(join(tmpdir(), 'vitals-bench-key-'));
  writeFileSync(join(keyDir, 'phi.key'), randomBytes(32), { mode: 0o600 });
  const latencies: number[] = [];
  let readyAt = 0;
  const started = Date.now();
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/processor/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      STREAM_NAME: stream,
      KINESIS_ENDPOINT: kinesalite.endpoint,
      ...dbEnv,
      DB_PASSWORD: processorPassword,
      PHI_LOCAL_KEY_FILE: join(keyDir, 'phi.key'),
      HEALTH_PORT: String(await freePort()),
      LOG_LEVEL: 'debug',
      SHARD_SYNC_MS: '1000',
      LEASE_RENEW_MS: '1000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buffered = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('processor running')) readyAt = Date.now();
      if (line.includes('"batch committed"')) latencies.push((JSON.parse(line) as { latencyMs: number }).latencyMs);
    }
  });

  const db = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: 'vitals', ssl: tlsOptions(pg.caFile) });
  await db.connect();
  let doneAt = 0;
  for (;;) {
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM observations');
    if (Number(rows[0]?.n) >= EVENTS) {
      doneAt = Date.now();
      break;
    }
    if (Date.now() - started > 15 * 60_000) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
  const scores = await db.query<{ n: string }>('SELECT count(*) AS n FROM news2_scores');
  await db.end();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  kinesis.destroy();
  await Promise.all([kinesalite.stop(), pg.stop()]);

  const processingS = (doneAt - readyAt) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  const rows: [string, string][] = [
    ['events', `${EVENTS} (${PATIENTS} patients, ${SHARDS} shards)`],
    ['pre-load (PutRecords)', `${(loadMs / 1000).toFixed(1)} s, ${Math.round(EVENTS / (loadMs / 1000))} records/s`],
    ['processor start-up (ts-node, to "running")', `${((readyAt - started) / 1000).toFixed(1)} s`],
    ['processing time (running -> all committed)', `${processingS.toFixed(1)} s`],
    ['throughput', `${Math.round(EVENTS / processingS)} events/s`],
    ['NEWS2 scores written', scores.rows[0]?.n ?? '?'],
    ['batches (one transaction each)', `${latencies.length}, mean ${Math.round(EVENTS / Math.max(1, latencies.length))} records`],
    ['batch latency p50 / p90 / p99 / max', `${percentile(sorted, 50)} / ${percentile(sorted, 90)} / ${percentile(sorted, 99)} / ${sorted[sorted.length - 1]} ms`],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(46)} ${v}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
