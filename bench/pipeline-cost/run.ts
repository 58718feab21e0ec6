/**
 * The pipeline-cost benchmark (bench/pipeline-cost.ts is its command line): pre-loads one stream in
 * kinesalite with the simulator's traffic mix, then, per repeat, runs each consumer over the same
 * records from TRIM_HORIZON into a fresh database (CREATE DATABASE ... TEMPLATE) and measures, over
 * the window from the consumer's "ready" to its last record committed:
 * - CPU time per record from /proc: the consumer process, PostgreSQL (postmaster and every backend,
 *   reaped ones included), kinesalite (its own process);
 * - wall time and records/s (noisy on shared machines: CPU per record is the steady figure);
 * - the consumer's peak RSS;
 * - bytes stored per record, per table (tables + indexes + TOAST, after VACUUM).
 * Consumers: `processor` (the real entry point, src/processor/main.ts, one process, default
 * settings), `minimal` and `naive` (peer-consumer.ts). The consumer order rotates between repeats.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { Client } from 'pg';
import { tlsOptions } from '../../src/adapters/db';
import { kinesisClientFor } from '../../src/adapters/kinesis-client';
import { PROCESSOR_COMMAND } from '../../src/infra/processing-service';
import { freePort, startKinesaliteProcess, startPostgres, tempDataDir, type KinesaliteProcess, type PostgresServer } from '../../src/local/servers';
import { PEER_TABLE_SQL, type PeerConfig, type PeerMode } from './peer-consumer';
import { peakRssMiB, treeCpuSeconds } from './proc-stat';
import { buildWorkload } from './workload';

export const CONSUMERS = ['processor', 'minimal', 'naive'] as const;
export type Consumer = (typeof CONSUMERS)[number];

export interface BenchOptions {
  /** Records pre-loaded into the stream (the simulator's mix). @default 100000 */
  readonly events?: number;
  /** @default 4 */
  readonly shards?: number;
  /** @default 3 */
  readonly repeats?: number;
  /** Simulated patients (one monitor each). @default 1000 */
  readonly patients?: number;
  /** @default all three */
  readonly consumers?: readonly Consumer[];
  /** Extra environment for the processor (e.g. MAX_RECORDS_PER_CALL). */
  readonly processorEnv?: Readonly<Record<string, string>>;
  /** Write a V8 CPU profile of each processor run into this directory (node --cpu-prof). */
  readonly cpuProfileDir?: string;
  /**
   * GetRecords Limit for every consumer (the processor's MAX_RECORDS_PER_CALL): small values stand in
   * for steady traffic, where each 200 ms poll returns a few records per patient. @default each
   * consumer's own (processor: its default, 2,000; peers: 10,000)
   */
  readonly recordsPerCall?: number;
  /**
   * Load pg_stat_statements and report, per run, where PostgreSQL's execution time went: each
   * statement's calls, rows and execution time per record (planning and protocol excluded), so the
   * database's cost can be split by statement. @default false
   */
  readonly statementStats?: boolean;
  /** Extra node (V8) flags for the processor, e.g. ['--trace-deopt'] (NODE_OPTIONS refuses most). */
  readonly processorNodeArgs?: readonly string[];
  /** Progress lines. @default stderr */
  readonly log?: (line: string) => void;
  /** Give up on one consumer run after this long. @default 15 minutes */
  readonly runTimeoutMs?: number;
  /**
   * Run the consumers as compiled JavaScript (built once with tsconfig.build.json into dist/), as the
   * image does; otherwise under ts-node, whose compiler stays in memory (~+85 MiB RSS; CPU in the
   * window is unaffected). @default false (the command line sets it)
   */
  readonly compiled?: boolean;
}

export interface CpuPerEvent {
  /** The consumer process. */
  readonly client: number;
  /** PostgreSQL, summed over its processes. */
  readonly postgres: number;
  readonly kinesalite: number;
}

export interface ConsumerRun {
  readonly consumer: Consumer;
  /** Stream records the consumer read (every record of the stream). */
  readonly records: number;
  /** Rows of its event table (observations / peer_events). */
  readonly stored: number;
  readonly wallS: number;
  readonly eventsPerS: number;
  /** µs of CPU per record. */
  readonly cpuUs: CpuPerEvent;
  /** Peak RSS of the consumer process. */
  readonly rssMiB: number;
  /** Bytes per record by table (tables + indexes + TOAST; partitions summed into their parent). */
  readonly bytesPerEvent: Readonly<Record<string, number>>;
  readonly totalBytesPerEvent: number;
  /** With `statementStats`: the statements by execution time, most first. */
  readonly statements?: readonly StatementStat[];
}

/** One statement's share of PostgreSQL's time in a run (pg_stat_statements). */
export interface StatementStat {
  /** The normalised text, whitespace collapsed. */
  readonly query: string;
  readonly calls: number;
  readonly rows: number;
  /** Execution time per record of the stream (µs). */
  readonly execUsPerRecord: number;
}

export interface BenchResult {
  readonly events: number;
  readonly validEvents: number;
  readonly shards: number;
  readonly patients: number;
  /** Consumers ran as compiled JavaScript (else under ts-node). */
  readonly compiled: boolean;
  /** --records-per-call, when given. */
  readonly recordsPerCall?: number;
  readonly runs: readonly ConsumerRun[];
  /** Median over the repeats, per consumer. */
  readonly medians: Readonly<Partial<Record<Consumer, ConsumerRun>>>;
}

const TEMPLATES: Record<Consumer, string> = { processor: 'bench_processor_template', minimal: 'bench_peer_template', naive: 'bench_peer_template' };
const STREAM = 'vitals-bench';
const ROOT = join(__dirname, '..', '..');

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The per-metric median of several runs of one consumer (each figure its own median). */
export function medianRun(runs: readonly ConsumerRun[]): ConsumerRun {
  const m = (pick: (r: ConsumerRun) => number): number => median(runs.map(pick));
  const tables = [...new Set(runs.flatMap((r) => Object.keys(r.bytesPerEvent)))].sort();
  const bytesPerEvent = Object.fromEntries(tables.map((t) => [t, m((r) => r.bytesPerEvent[t] ?? 0)]));
  return {
    consumer: (runs[0] as ConsumerRun).consumer,
    records: m((r) => r.records),
    stored: m((r) => r.stored),
    wallS: m((r) => r.wallS),
    eventsPerS: m((r) => r.eventsPerS),
    cpuUs: { client: m((r) => r.cpuUs.client), postgres: m((r) => r.cpuUs.postgres), kinesalite: m((r) => r.cpuUs.kinesalite) },
    rssMiB: m((r) => r.rssMiB),
    bytesPerEvent,
    totalBytesPerEvent: m((r) => r.totalBytesPerEvent),
  };
}

interface Env {
  readonly kinesalite: KinesaliteProcess;
  readonly pg: PostgresServer;
  readonly kinesis: KinesisClient;
  readonly keyFile: string;
  readonly processorPassword: string;
  readonly shards: readonly { shardId: string; lastSequence: string }[];
  readonly records: number;
  readonly dataDir: string;
}

async function admin(pg: PostgresServer, database = 'postgres'): Promise<Client> {
  const c = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database, ssl: tlsOptions(pg.caFile) });
  await c.connect();
  return c;
}

function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}: ${err}`))));
  });
}

/** Pre-loads the stream; returns each shard's last sequence number. */
async function preload(kinesis: KinesisClient, records: readonly { data: Buffer; partitionKey: string }[], shards: number): Promise<{ shardId: string; lastSequence: string }[]> {
  await kinesis.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: shards }));
  for (;;) {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const last = new Map<string, bigint>();
  // In order, one call at a time: each shard's records keep the workload's order.
  for (let i = 0; i < records.length; i += 500) {
    const chunk = records.slice(i, i + 500);
    const out = await kinesis.send(new PutRecordsCommand({ StreamName: STREAM, Records: chunk.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })) }));
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records rejected while pre-loading`);
    for (const e of out.Records ?? []) {
      const seq = BigInt(e.SequenceNumber as string);
      const shard = e.ShardId as string;
      if ((last.get(shard) ?? -1n) < seq) last.set(shard, seq);
    }
  }
  return [...last.entries()].map(([shardId, seq]) => ({ shardId, lastSequence: seq.toString() })).sort((a, b) => a.shardId.localeCompare(b.shardId));
}

async function setUp(o: Required<Pick<BenchOptions, 'events' | 'shards' | 'patients' | 'compiled' | 'statementStats'>>, log: (l: string) => void): Promise<Env & { validEvents: number }> {
  const workload = buildWorkload({ events: o.events, patients: o.patients, seed: 20261201, endMs: Date.now() - 60_000 });
  const dataDir = tempDataDir('vitals-bench-');
  const settings: Record<string, string> = o.statementStats ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'top' } : {};
  const [kinesalite, pg] = await Promise.all([startKinesaliteProcess(), startPostgres({ dataDir, tls: true, settings })]);
  const kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint });
  const processorPassword = randomBytes(12).toString('hex');
  const c = await admin(pg);
  if (o.statementStats) await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  for (const t of new Set(Object.values(TEMPLATES))) await c.query(`CREATE DATABASE ${t}`);
  await c.end();
  await runNode(['-r', 'ts-node/register/transpile-only', 'src/db/migrate.ts'], {
    ...process.env,
    DB_HOST: pg.host,
    DB_PORT: String(pg.port),
    DB_NAME: TEMPLATES.processor,
    DB_SSL_CA_FILE: pg.caFile,
    DB_ADMIN_USER: pg.adminUser,
    DB_ADMIN_PASSWORD: pg.adminPassword,
    DB_PROCESSOR_PASSWORD: processorPassword,
  });
  if (o.compiled) await runNode([require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], process.env);
  const peer = await admin(pg, TEMPLATES.minimal);
  await peer.query(PEER_TABLE_SQL);
  await peer.end();
  const started = Date.now();
  const shards = await preload(kinesis, workload.records, o.shards);
  log(`pre-loaded ${workload.records.length} records (${workload.validEvents} distinct valid events) into ${o.shards} shards in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const keyDir = mkdtempSync(join(tmpdir(), 'vitals-bench-key-'));
  const keyFile = join(keyDir, 'phi.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  return { kinesalite, pg, kinesis, keyFile, processorPassword, shards, records: workload.records.length, validEvents: workload.validEvents, dataDir };
}

/** Resolves when `pattern` appears in the child's stdout; rejects if it exits first. */
function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => finish(new Error(`no ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer): void => {
      buffered += d.toString();
      const m = pattern.exec(buffered);
      if (m) finish(undefined, m);
      else buffered = buffered.slice(-4096);
    };
    const onExit = (code: number | null): void => finish(new Error(`exited with ${code} before ${pattern}`));
    function finish(err?: Error, m?: RegExpExecArray): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m as RegExpExecArray);
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

function cpu(env: Env, child: ChildProcess): { client: number; postgres: number; kinesalite: number } {
  return { client: treeCpuSeconds(child.pid as number), postgres: treeCpuSeconds(env.pg.pid), kinesalite: treeCpuSeconds(env.kinesalite.pid) };
}

async function startConsumer(env: Env, consumer: Consumer, database: string, o: BenchOptions): Promise<ChildProcess> {
  const dbBase = { DB_HOST: env.pg.host, DB_PORT: String(env.pg.port), DB_NAME: database, DB_SSL_CA_FILE: env.pg.caFile };
  if (consumer === 'processor') {
    const profile = [...(o.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfileDir}`] : []), ...(o.processorNodeArgs ?? [])];
    // The deployed command's node flags (PROCESSOR_COMMAND: task definition and image CMD), then its entry point.
    const flags = PROCESSOR_COMMAND.slice(1, -1);
    return spawn(process.execPath, [...flags, ...profile, ...(o.compiled ? [PROCESSOR_COMMAND[PROCESSOR_COMMAND.length - 1]] : ['-r', 'ts-node/register/transpile-only', 'src/processor/main.ts'])], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'development',
        AWS_REGION: 'eu-central-2',
        STREAM_NAME: STREAM,
        KINESIS_ENDPOINT: env.kinesalite.endpoint,
        ...dbBase,
        DB_USER: 'vitals_processor',
        DB_AUTH: 'password',
        DB_PASSWORD: env.processorPassword,
        PHI_LOCAL_KEY_FILE: env.keyFile,
        HEALTH_PORT: String(await freePort()),
        LOG_LEVEL: 'info',
        NODE_NO_WARNINGS: '1',
        ...(o.recordsPerCall ? { MAX_RECORDS_PER_CALL: String(o.recordsPerCall) } : {}),
        ...o.processorEnv,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  }
  const config: PeerConfig = {
    mode: consumer as PeerMode,
    endpoint: env.kinesalite.endpoint,
    stream: STREAM,
    shards: env.shards,
    db: { host: env.pg.host, port: env.pg.port, database, user: env.pg.adminUser, password: env.pg.adminPassword, caFile: env.pg.caFile },
    maxRecordsPerCall: o.recordsPerCall ?? 10_000,
  };
  const peer = o.compiled ? ['dist/bench/pipeline-cost/peer-consumer.js'] : ['-r', 'ts-node/register/transpile-only', 'bench/pipeline-cost/peer-consumer.ts'];
  return spawn(process.execPath, peer, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1', BENCH_PEER: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Resolves when every shard's checkpoint is its last record (the processor committed everything). */
async function processorDone(db: Client, env: Env, child: ChildProcess, deadline: number): Promise<void> {
  const want = new Map(env.shards.map((s) => [s.shardId, s.lastSequence]));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`processor exited with ${child.exitCode}`);
    const { rows } = await db.query<{ shard_id: string; checkpoint: string | null }>('SELECT shard_id, checkpoint FROM shard_leases WHERE stream_name = $1', [STREAM]);
    if (rows.filter((r) => want.get(r.shard_id) === r.checkpoint).length === want.size) return;
    if (Date.now() > deadline) throw new Error('processor did not commit every record in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function bytesPerTable(db: Client): Promise<Record<string, number>> {
  await db.query('VACUUM');
  // Leaf tables (partitions summed into their root); pg_total_relation_size counts indexes and TOAST.
  const { rows } = await db.query<{ table: string; bytes: string }>(
    `SELECT coalesce(pg_partition_root(c.oid), c.oid)::regclass::text AS table, sum(pg_total_relation_size(c.oid)) AS bytes
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'pgmigrations'
     GROUP BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.table, Number(r.bytes)]));
}

/** The run database's statements by execution time (pg_stat_statements, reset at the window's start). */
async function statementStats(c: Client, database: string, records: number): Promise<StatementStat[]> {
  const { rows } = await c.query<{ query: string; calls: string; rows: string; ms: number }>(
    `SELECT s.query, s.calls, s.rows, s.total_exec_time AS ms FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
     WHERE d.datname = $1 ORDER BY s.total_exec_time DESC`,
    [database],
  );
  return rows.map((r) => ({ query: r.query.replace(/\s+/g, ' ').trim(), calls: Number(r.calls), rows: Number(r.rows), execUsPerRecord: (r.ms * 1000) / records }));
}

async function runConsumer(env: Env, consumer: Consumer, repeat: number, o: BenchOptions): Promise<ConsumerRun> {
  const database = `bench_${consumer}_${repeat}`;
  const c = await admin(env.pg);
  await c.query(`DROP DATABASE IF EXISTS ${database}`);
  await c.query(`CREATE DATABASE ${database} TEMPLATE ${TEMPLATES[consumer]}`);
  const db = await admin(env.pg, database);
  const child = await startConsumer(env, consumer, database, o);
  const timeoutMs = o.runTimeoutMs ?? 15 * 60_000;
  try {
    await waitForLine(child, consumer === 'processor' ? /"processor running"/ : /^ready$/m, 60_000);
    if (o.statementStats) await c.query('SELECT pg_stat_statements_reset()');
    const before = cpu(env, child);
    const startedAt = process.hrtime.bigint();
    let records = env.records;
    if (consumer === 'processor') await processorDone(db, env, child, Date.now() + timeoutMs);
    else records = (JSON.parse((await waitForLine(child, /^done (.*)$/m, timeoutMs))[1] as string) as { records: number }).records;
    const wallS = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const after = cpu(env, child);
    const rssMiB = peakRssMiB(child.pid as number);
    const statements = o.statementStats ? await statementStats(c, database, env.records) : undefined;
    await stopChild(child);
    const table = consumer === 'processor' ? 'observations' : 'peer_events';
    const stored = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
    const sizes = await bytesPerTable(db);
    const perEvent = (x: number): number => x / env.records;
    const bytesPerEvent = Object.fromEntries(Object.entries(sizes).map(([t, b]) => [t, perEvent(b)]));
    return {
      consumer,
      records,
      stored,
      wallS,
      eventsPerS: records / wallS,
      cpuUs: {
        client: perEvent((after.client - before.client) * 1e6),
        postgres: perEvent((after.postgres - before.postgres) * 1e6),
        kinesalite: perEvent((after.kinesalite - before.kinesalite) * 1e6),
      },
      rssMiB,
      bytesPerEvent,
      totalBytesPerEvent: Object.values(bytesPerEvent).reduce((a, b) => a + b, 0),
      ...(statements ? { statements } : {}),
    };
  } finally {
    await stopChild(child);
    await db.end();
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await c.end();
  }
}

export async function runPipelineCost(options: BenchOptions = {}): Promise<BenchResult> {
  const o = { events: options.events ?? 100_000, shards: options.shards ?? 4, patients: options.patients ?? 1000, compiled: options.compiled ?? false, statementStats: options.statementStats ?? false };
  const repeats = options.repeats ?? 3;
  const consumers = options.consumers ?? CONSUMERS;
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const env = await setUp(o, log);
  const runs: ConsumerRun[] = [];
  try {
    for (let r = 0; r < repeats; r++) {
      // Rotate the order, so no consumer always runs first (cold caches) or last.
      const order = consumers.map((_, i) => consumers[(i + r) % consumers.length] as Consumer);
      for (const consumer of order) {
        const run = await runConsumer(env, consumer, r, options);
        log(`repeat ${r + 1}/${repeats} ${consumer}: ${run.wallS.toFixed(1)} s, client ${run.cpuUs.client.toFixed(1)} µs/event, postgres ${run.cpuUs.postgres.toFixed(1)}, kinesalite ${run.cpuUs.kinesalite.toFixed(1)}, ${run.totalBytesPerEvent.toFixed(0)} B/event`);
        runs.push(run);
      }
    }
  } finally {
    env.kinesis.destroy();
    await Promise.all([env.kinesalite.stop(), env.pg.stop()]);
    rmSync(join(env.keyFile, '..'), { recursive: true, force: true });
    rmSync(env.dataDir, { recursive: true, force: true });
  }
  const medians: Partial<Record<Consumer, ConsumerRun>> = {};
  for (const consumer of consumers) medians[consumer] = medianRun(runs.filter((x) => x.consumer === consumer));
  return { events: env.records, validEvents: env.validEvents, shards: o.shards, patients: o.patients, compiled: o.compiled, recordsPerCall: options.recordsPerCall, runs, medians };
}
