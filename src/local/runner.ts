/**
 * The local pipeline, end to end, on loopback only: kinesalite, PostgreSQL with TLS, the migrations,
 * the processor processes (the compiled code the container runs, configured by environment), the
 * ingest API in-process, and the device simulator posting to it over HTTP with an API key.
 *
 * State lives under the project-local state directory (default `.local/`, git-ignored):
 *   kinesis/  kinesalite's LevelDB      pg/    the PostgreSQL cluster and its generated TLS material
 *   keys/     phi.key (32 random bytes) and the processor role's password, created once, mode 600
 *   logs/     processor-N.log, migrate.log, ingest.log, postgres.log, kinesalite.log of the latest run (JSON, no PHI)
 *
 * kinesalite and each processor run in child processes of their own, supervised: one that exits
 * unexpectedly is restarted with backoff (kinesalite on the same port and data directory, so every
 * acknowledged record is still there), as ECS replaces a failed task; restarts are counted in the
 * final line.
 *
 * Counting is scoped to this run (its event-id range and start time), so a persistent database
 * from earlier runs does not change the figures.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, type WriteStream } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Client, Pool } from 'pg';
import { buildIngestServer } from '../ingest/server';
import { createLogger } from '../adapters/logger';
import { pgObservationStore } from '../adapters/observation-store';
import { acknowledgeAlert } from '../adapters/alert-store';
import { startAlertBus, type AlertBus } from './alert-bus';
import { AlertWatch } from './alert-watch';
import { loadGatewayConfig } from '../hl7/config';
import { runGateway, type RunningGateway } from '../hl7/main';
import { Hl7Sender } from './hl7-sender';
import { REDACT_PATHS } from '../adapters/logger';
import { kinesisClientFor } from '../adapters/kinesis-client';
import type { RunOptions } from './args';
import { isAlive, startChild, stopChild, type RunningChild } from './children';
import { CommitLatencyTracker, MillisBehindTracker } from './emf-tail';
import { countAlerts, countDeadLetters, countStored, countStoredIds, readStoredSet, type RunScope, storedTimes } from './pipeline-stats';
import { freePort, startKinesaliteProcess, startPostgres, type KinesaliteProcess, type PostgresServer } from './servers';
import { Supervisor } from './supervisor';
import { Simulator } from './simulator';
import { type FinalSummary, formatStatusLine, LatencySampler } from './status';
import { newRunTag } from './traffic';
import { seededRandom } from './random';

export const STREAM_NAME = 'vitals-local';
export const DB_NAME = 'vitals';
export const PROCESSOR_ROLE = 'vitals_processor';
export const FHIR_READER_ROLE = 'vitals_fhir_reader';
export const REGION = 'eu-central-2';
export const ALERT_BUS_NAME = 'vitals-alerts-local';
/** The acknowledging client waits this long after an alert is raised (a nurse reaching the bedside, compressed). */
const ACK_DELAY_MS = 2_000;
/** After the processors caught up: how long the alert outbox gets to drain. */
const ALERT_DRAIN_MS = 15_000;
/** Processors get this long to finish their batch, commit and release leases before SIGKILL. */
const PROCESSOR_STOP_DEADLINE_MS = 40_000;
const PROCESSOR_READY_TIMEOUT_MS = 30_000;
const PROCESSOR_START_ATTEMPTS = 3;
/** In-flight API requests (and their retries) get this long after the simulator stops. */
const SIMULATOR_DRAIN_MS = 20_000;
const STATUS_INTERVAL_MS = 1_000;
/** The processors' EMF interval here (10 s on AWS): the event-to-commit histograms arrive per second. */
const PROCESSOR_METRICS_FLUSH_MS = 1_000;
/** The cold-start window the final line reports apart (issue 11: p99 <= 1 s including it). */
const FIRST_WINDOW_MS = 10_000;
const LATENCY_LOOKUP_BATCH = 2_000;

export interface RunResult {
  readonly summary: FinalSummary;
  /** Why the run failed; empty when every valid event sent was stored and nothing was left running. */
  readonly failures: readonly string[];
}

export interface RunnerIo {
  /** Progress and the live status (never PHI). */
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Finds the project root (the directory holding package.json) above this file. */
export function projectRoot(from = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

/** Creates a secret file once (mode 600) and returns its content afterwards. */
function secretFile(path: string, make: () => Buffer): Buffer {
  if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return readFileSync(path);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function portClosed(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolvePort(false);
    });
    socket.once('error', () => resolvePort(true));
  });
}

/**
 * One local run. `requestStop()` ends sending (Ctrl-C); a second call also skips waiting for the
 * processors to catch up.
 */
export class LocalRun {
  private stopRequests = 0;
  private wakeStop: () => void = () => undefined;
  private readonly stopSignal = new Promise<void>((r) => (this.wakeStop = r));
  private wakeSkipDrain: () => void = () => undefined;
  private readonly skipDrainSignal = new Promise<void>((r) => (this.wakeSkipDrain = r));

  // Everything started, so cleanup can stop exactly what exists.
  private kinesalite?: Supervisor<KinesaliteProcess>;
  private postgresSupervisor?: Supervisor<PostgresServer>;
  /** The PostgreSQL server running now (a new object after a restart; same port, data and password). */
  private get postgres(): PostgresServer | undefined {
    return this.postgresSupervisor?.current;
  }
  private pool?: Pool;
  private kinesis?: KinesisClient;
  private ingest?: FastifyInstance;
  private ingestLog?: WriteStream;
  private readerPool?: Pool;
  private hl7?: RunningGateway;
  private hl7Log?: WriteStream;
  private hl7Sender?: Hl7Sender;
  private processors: Array<Supervisor<RunningChild>> = [];
  private alertBus?: AlertBus;
  private alertWatch?: AlertWatch;
  /** Acknowledgements write as the processor role locally (UPDATE clinical_alerts, INSERT alert_outbox). */
  private ackPool?: Pool;
  private stoppingDatabase = false;
  private readonly ports: Array<{ name: string; port: number }> = [];
  /** Each processor's health port, by the child that listens on it: a restart listens on a new port and
   * frees the old one, which anything else may take afterwards, so only the last child's is checked. */
  private readonly processorPorts = new Map<RunningChild, { name: string; port: number }>();

  constructor(
    private readonly options: RunOptions,
    private readonly io: RunnerIo,
  ) {}

  requestStop(): void {
    this.stopRequests++;
    this.wakeStop();
    if (this.stopRequests >= 2) this.wakeSkipDrain();
  }

  private say(message: string): void {
    if (this.io.stderr.isTTY) this.io.stderr.write('\r\x1b[2K');
    this.io.stderr.write(`[local] ${message}\n`);
  }

  async run(): Promise<RunResult> {
    try {
      return await this.runPipeline();
    } finally {
      await this.shutdown();
    }
  }

  private async runPipeline(): Promise<RunResult> {
    const o = this.options;
    const root = projectRoot();
    const state = resolve(process.cwd(), o.stateDir);
    const dirs = { kinesis: join(state, 'kinesis'), pg: join(state, 'pg'), keys: join(state, 'keys'), logs: join(state, 'logs') };
    if (o.fresh) for (const d of [dirs.kinesis, dirs.pg]) rmSync(d, { recursive: true, force: true });
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    chmodSync(dirs.keys, 0o700);
    // Each run starts its logs afresh, so they hold this run only and never grow without bound.
    for (const f of readdirSync(dirs.logs)) if (f.endsWith('.log')) truncateSync(join(dirs.logs, f));
    const processorScript = join(root, 'dist', 'src', 'processor', 'main.js');
    const migrateScript = join(root, 'dist', 'src', 'db', 'migrate.js');
    for (const script of [processorScript, migrateScript]) {
      if (!existsSync(script)) throw new Error(`${script} is missing: build first (npx tsc -p tsconfig.build.json), or use npm start`);
    }

    const phiKeyFile = join(dirs.keys, 'phi.key');
    const phiKey = secretFile(phiKeyFile, () => randomBytes(32));
    if (phiKey.length !== 32) throw new Error(`${phiKeyFile} must hold exactly 32 bytes; it holds ${phiKey.length}`);
    const processorPassword = secretFile(join(dirs.keys, 'db-processor.password'), () => Buffer.from(randomBytes(24).toString('base64url'))).toString('utf8');
    const fhirReaderPassword = secretFile(join(dirs.keys, 'db-fhir-reader.password'), () => Buffer.from(randomBytes(24).toString('base64url'))).toString('utf8');

    this.say(`state in ${state}`);
    const kinesaliteLog = createWriteStream(join(dirs.logs, 'kinesalite.log'), { flags: 'a', mode: 0o600 });
    let kinesalitePort = 0; // chosen by the first start; restarts keep it (clients keep their endpoint)
    this.kinesalite = await Supervisor.start({
      name: 'kinesalite',
      log: (m) => this.say(m),
      start: async () => {
        const k = await startKinesaliteProcess({ dataDir: dirs.kinesis, port: kinesalitePort, onLog: (t) => kinesaliteLog.write(t) });
        kinesalitePort = k.port;
        return k;
      },
    });
    const kinesalite = this.kinesalite.current;
    this.ports.push({ name: 'kinesalite', port: kinesalite.port });
    const pgLog = createWriteStream(join(dirs.logs, 'postgres.log'), { flags: 'a', mode: 0o600 });
    // Supervised like the others: a PostgreSQL that stops unexpectedly (crash, or stopped by hand to
    // rehearse a database restart) is started again on the same port and data, as RDS restarts it.
    let pgPort = 0;
    this.postgresSupervisor = await Supervisor.start({
      name: 'postgres',
      log: (m) => this.say(m),
      start: async () => {
        const server = await startPostgres({ dataDir: dirs.pg, tls: true, ...(pgPort ? { port: pgPort } : {}), onLog: (line) => pgLog.write(line) });
        pgPort = server.port;
        return server;
      },
    });
    const pg = this.postgresSupervisor.current;
    this.ports.push({ name: 'postgres', port: pg.port });
    this.say(`kinesalite ${kinesalite.endpoint} (pid ${kinesalite.pid}); PostgreSQL 127.0.0.1:${pg.port} (TLS required, pid ${pg.pid})`);

    const freshDatabase = await this.ensureDatabase(pg);
    await this.migrate(migrateScript, pg, processorPassword, fhirReaderPassword, join(dirs.logs, 'migrate.log'));

    this.pool = new Pool({
      host: pg.host,
      port: pg.port,
      database: DB_NAME,
      user: pg.adminUser,
      password: pg.adminPassword,
      ssl: { ca: readFileSync(pg.caFile, 'utf8'), rejectUnauthorized: true },
      max: 4,
      application_name: 'vitals-local-runner',
    });
    // pool.end() resolves before its sockets have closed; when PostgreSQL stops right after, a
    // closing connection reports "terminating connection due to administrator command" here.
    this.pool.on('error', (err) => {
      if (!this.stoppingDatabase) this.say(`database connection failed: ${err.message}`);
    });
    this.kinesis = kinesisClientFor({ region: REGION, endpoint: kinesalite.endpoint });
    await this.ensureStream(this.kinesis, this.pool, freshDatabase);

    // The local event bus (PutEvents over loopback) before the processors, whose relays publish to it.
    this.alertWatch = new AlertWatch({ say: (m) => this.say(m), looksLikePatientId: (t) => /MRN\d{8}/.test(t) });
    const alertWatch = this.alertWatch;
    this.alertBus = await startAlertBus({ onEvent: (e) => alertWatch.onEvent(e) });
    this.ports.push({ name: 'alert-bus', port: Number(new URL(this.alertBus.endpoint).port) });
    const logFiles = await this.startProcessors(processorScript, phiKeyFile, processorPassword, dirs.logs);

    const apiKey = randomBytes(24).toString('base64url');
    // For a person querying the local API (FHIR reads) while the run lasts: this run's key, mode 600.
    writeFileSync(join(dirs.keys, 'ingest-api.key'), apiKey, { mode: 0o600 });
    this.ingestLog = createWriteStream(join(dirs.logs, 'ingest.log'), { flags: 'a', mode: 0o600 });
    const ingestLogger = pino(
      {
        level: 'info',
        base: { service: 'vitals-ingest' },
        redact: { paths: REDACT_PATHS, censor: '[redacted]' },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      this.ingestLog,
    );
    // The FHIR read API queries as the read-only role, as the FHIR service does on AWS.
    this.readerPool = new Pool({
      host: pg.host, port: pg.port, database: DB_NAME, user: FHIR_READER_ROLE, password: fhirReaderPassword,
      ssl: { ca: readFileSync(pg.caFile, 'utf8'), rejectUnauthorized: true }, max: 4, application_name: 'vitals-local-fhir',
    });
    this.readerPool.on('error', () => undefined); // a failed query answers 503; idle-socket errors (restarts) are expected
    this.ackPool = new Pool({
      host: pg.host, port: pg.port, database: DB_NAME, user: PROCESSOR_ROLE, password: processorPassword,
      ssl: { ca: readFileSync(pg.caFile, 'utf8'), rejectUnauthorized: true }, max: 2, application_name: 'vitals-local-ack',
    });
    this.ackPool.on('error', () => undefined);
    const ackPool = this.ackPool;
    this.ingest = buildIngestServer({
      kinesis: this.kinesis, streamName: STREAM_NAME, apiKeys: [apiKey], logger: ingestLogger, fhir: { store: pgObservationStore(this.readerPool) },
      alerts: { acknowledge: (id, by, now) => acknowledgeAlert(ackPool, id, by, now) },
    });
    await this.ingest.listen({ host: '127.0.0.1', port: 0 });
    const ingestPort = (this.ingest.server.address() as { port: number }).port;
    this.ports.push({ name: 'ingest', port: ingestPort });
    const ingestUrl = `http://127.0.0.1:${ingestPort}`;
    alertWatch.startAcknowledging({ url: ingestUrl, apiKey, delayMs: ACK_DELAY_MS });
    this.say(`ingest API ${ingestUrl}/v1/events, FHIR ${ingestUrl}/fhir/Observation (API key generated for this run: ${join(dirs.keys, 'ingest-api.key')})`);
    // The HL7 gateway in-process, plain MLLP on loopback (TLS off locally; see README for TLS).
    this.hl7Log = createWriteStream(join(dirs.logs, 'hl7.log'), { flags: 'a', mode: 0o600 });
    const hl7Log = this.hl7Log;
    this.hl7 = await runGateway(
      loadGatewayConfig({ STREAM_NAME, KINESIS_ENDPOINT: kinesalite.endpoint, AWS_REGION: REGION, HL7_PORT: '0', HEALTH_PORT: '0', ENVIRONMENT: 'local', LOG_LEVEL: 'info' }),
      createLogger({ level: 'info', base: { service: 'vitals-hl7-gateway' } }, hl7Log),
      { writeMetrics: (line) => hl7Log.write(line) },
    );
    this.ports.push({ name: 'hl7', port: this.hl7.port }, { name: 'hl7-health', port: this.hl7.healthPort });
    this.say(
      `listening ${[...this.ports, ...this.processorPorts.values()].map((p) => `${p.name}=127.0.0.1:${p.port}`).join(' ')}; processor pids ${this.processors.map((p) => p.current.pid).join(',')}`,
    );

    const seed = o.seed ?? randomBytes(4).readUInt32LE(0);
    const runTag = newRunTag(seededRandom(randomBytes(4).readUInt32LE(0)));
    const latency = new LatencySampler();
    const kinesis = this.kinesis;
    if (o.hl7Share > 0) this.hl7Sender = new Hl7Sender({ host: '127.0.0.1', port: this.hl7.port });
    const hl7Sender = this.hl7Sender;
    const simulator = new Simulator({
      ...(hl7Sender ? { hl7: { share: o.hl7Share, send: (m: string) => hl7Sender.send(m) } } : {}),
      ingestUrl,
      apiKey,
      ratePerSec: o.rate,
      patients: o.patients,
      malformedShare: o.malformedShare,
      duplicateShare: o.duplicateShare,
      deterioratingShare: o.deterioratingShare,
      runTag,
      seed,
      latency,
      putRaw: async (records) => {
        let pending = records;
        for (let attempt = 0; pending.length > 0; attempt++) {
          const out = await kinesis.send(
            new PutRecordsCommand({ StreamName: STREAM_NAME, Records: pending.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })) }),
          );
          if (!out.FailedRecordCount) return;
          if (attempt >= 5) throw new Error(`PutRecords left ${out.FailedRecordCount} records unwritten`);
          pending = pending.filter((_, i) => out.Records?.[i]?.ErrorCode !== undefined);
          await sleep(100 * 2 ** attempt);
        }
      },
    });
    const scope: RunScope = { runTag, streamName: STREAM_NAME, startedAt: new Date() };
    this.say(
      `simulating ${o.patients} patients at ${o.rate} events/s` +
        `${o.durationSec === null ? ' until Ctrl-C' : ` for ${o.durationSec} s`} (seed ${seed}, ${o.processors} processor(s), ${o.shards} shards)`,
    );
    const commitLatency = new CommitLatencyTracker(logFiles, Date.now(), FIRST_WINDOW_MS, PROCESSOR_METRICS_FLUSH_MS);
    const commitLatencyTimer = setInterval(() => commitLatency.poll(), 1_000);
    commitLatencyTimer.unref();
    simulator.start();

    const millisBehind = new MillisBehindTracker(logFiles);
    const status = new StatusLoop(this.pool, scope, simulator, latency, millisBehind, this.io.stderr);
    status.start();

    const durationTimer =
      o.durationSec === null ? undefined : setTimeout(() => this.requestStop(), o.durationSec * 1000);
    await this.stopSignal;
    if (durationTimer) clearTimeout(durationTimer);

    this.say('stopping the simulator');
    await simulator.stop(SIMULATOR_DRAIN_MS);
    const sendingEndedAt = Date.now();
    const sim = simulator.counters;
    const expectedDeadLetters = sim.impossibleAccepted + sim.undecodablePut;
    this.say(`waiting for the processors to store everything (up to ${o.drainTimeoutSec} s; Ctrl-C again to skip)`);
    const drainDeadline = sendingEndedAt + o.drainTimeoutSec * 1000;
    let skipped = false;
    void this.skipDrainSignal.then(() => (skipped = true));
    let hl7Drained = false;
    let hl7CheckedAt = 0;
    while (!skipped && Date.now() < drainDeadline) {
      const snapshot = status.latest;
      if (!hl7Drained && Date.now() - hl7CheckedAt > 1_000) {
        hl7CheckedAt = Date.now();
        hl7Drained = (await countStoredIds(this.pool, simulator.hl7AcceptedEventIds)) >= simulator.hl7AcceptedEventIds.size;
      }
      if (snapshot && hl7Drained && snapshot.stored >= sim.validAccepted && snapshot.deadLetters >= expectedDeadLetters && snapshot.at > sendingEndedAt) break;
      await Promise.race([sleep(250), this.skipDrainSignal]);
    }
    await status.stop();
    // The processors flush their metrics every PROCESSOR_METRICS_FLUSH_MS: wait for the last interval.
    await sleep(PROCESSOR_METRICS_FLUSH_MS + 500);
    clearInterval(commitLatencyTimer);
    commitLatency.poll();
    const alertsDrained = await this.drainAlerts(skipped);
    await alertWatch.stop();

    // Final figures, read once more after the drain.
    const { stored, lastStoredAtMs } = await readStoredSet(this.pool, scope);
    const missing = simulator.accepted.missingFrom(stored, 5);
    const missingCount = simulator.accepted.size - simulator.accepted.intersectionSize(stored);
    await resolveLatencies(this.pool, latency, Number.POSITIVE_INFINITY);
    const [deadLetters, alerts, hl7Stored] = await Promise.all([
      countDeadLetters(this.pool, scope),
      countAlerts(this.pool, scope),
      countStoredIds(this.pool, simulator.hl7AcceptedEventIds),
    ]);
    const { p50, p99 } = latency.percentiles();
    const storedWindowS = lastStoredAtMs === null ? 0 : Math.max(0.001, (lastStoredAtMs - scope.startedAt.getTime()) / 1000);
    const summary: FinalSummary = {
      events_sent: simulator.accepted.size,
      events_stored: stored.size,
      dead_letters: deadLetters,
      alerts,
      throughput_eps: storedWindowS === 0 ? 0 : stored.size / storedWindowS,
      p50_latency_ms: p50,
      p99_latency_ms: p99,
      commit_latency_events: commitLatency.all.count,
      p50_commit_latency_ms: commitLatency.all.percentile(50),
      p99_commit_latency_ms: commitLatency.all.percentile(99),
      p99_commit_latency_first_10s_ms: commitLatency.first.percentile(99),
      processor_restarts: this.processors.reduce((n, p) => n + p.restarts, 0),
      kinesalite_restarts: this.kinesalite?.restarts ?? 0,
      postgres_restarts: this.postgresSupervisor?.restarts ?? 0,
      hl7_messages: sim.hl7Messages,
      hl7_acks_aa: sim.hl7AcksAa,
      hl7_acks_ae_ar: sim.hl7AcksAeAr,
      ...alertWatch.figures(),
    };

    this.say(
      `simulator: ${sim.slots} events generated, ${sim.requests} requests, ${sim.duplicatesAccepted} duplicates re-sent, ` +
        `${sim.schemaInvalidRejected} schema-invalid rejected (400), ${sim.impossibleAccepted} impossible accepted, ` +
        `${sim.undecodablePut} undecodable written to the stream, ${sim.throttled} throttled (429), ${sim.retried} retried (5xx/network), ` +
        `${sim.skippedSlots} slots skipped (sender behind); latency samples ${latency.resolvedCount} (${latency.pendingCount} unresolved); ` +
        `HL7: ${sim.hl7Messages} messages, ${sim.hl7AcksAa} AA (${hl7Stored} of their ${simulator.hl7AcceptedEventIds.size} events stored), ${sim.hl7AcksAeAr} AE/AR, ${sim.hl7Resent} resent`,
    );
    const acks = alertWatch.ackCounts;
    this.say(
      `alerts: ${summary.alerts_delivered} transitions delivered (${summary.alert_duplicate_deliveries} re-deliveries), ${summary.alerts_escalated} escalations; ` +
        `acknowledging client: ${acks.sent} sent, ${acks.ok} acknowledged, ${acks.reAckOk} idempotent re-acks, ${acks.cleared} already cleared (409), ${acks.failed} failed`,
    );
    const failures: string[] = [];
    if (!alertsDrained) failures.push('alert transitions were left undelivered in the outbox');
    failures.push(...alertWatch.problems);
    if (missingCount > 0) {
      failures.push(`${missingCount} valid events accepted by the API were not stored (first sequence numbers ${missing.join(', ')})`);
    }
    if (sim.validUndelivered > 0) failures.push(`${sim.validUndelivered} valid events could not be delivered to the API`);
    if (hl7Stored < simulator.hl7AcceptedEventIds.size) {
      failures.push(`${simulator.hl7AcceptedEventIds.size - hl7Stored} HL7 messages acknowledged AA were not stored`);
    }
    if (sim.hl7Undelivered > 0) failures.push(`${sim.hl7Undelivered} valid HL7 messages were never acknowledged AA`);
    if (sim.unexpected > 0) failures.push(`${sim.unexpected} responses broke the API contract: ${simulator.problems.join('; ')}`);
    if (deadLetters < expectedDeadLetters) {
      failures.push(`${deadLetters} dead letters, expected at least ${expectedDeadLetters} (${sim.impossibleAccepted} impossible + ${sim.undecodablePut} undecodable)`);
    }
    if (stored.size > simulator.accepted.size) {
      this.say(`note: ${stored.size - simulator.accepted.size} stored events were never acknowledged to the simulator (a retried request that had landed)`);
    }
    return { summary, failures };
  }

  /** Waits (up to ALERT_DRAIN_MS) until the outbox holds nothing undelivered; true when it drained. */
  private async drainAlerts(skipped: boolean): Promise<boolean> {
    const pool = this.pool as Pool;
    const deadline = Date.now() + (skipped ? 0 : ALERT_DRAIN_MS);
    for (;;) {
      const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM alert_outbox WHERE delivered_at IS NULL');
      if (Number(rows[0]?.n ?? 0) === 0) return true;
      if (Date.now() >= deadline) return false;
      await sleep(250);
    }
  }

  /** Creates the database when missing; returns true when it was created now (a fresh cluster). */
  private async ensureDatabase(pg: PostgresServer): Promise<boolean> {
    const admin = new Client({
      host: pg.host,
      port: pg.port,
      database: 'postgres',
      user: pg.adminUser,
      password: pg.adminPassword,
      ssl: { ca: readFileSync(pg.caFile, 'utf8'), rejectUnauthorized: true },
    });
    admin.on('error', () => undefined); // a failed query rejects anyway; do not crash on a late socket error
    await admin.connect();
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB_NAME]);
      if (rowCount) return false;
      await admin.query(`CREATE DATABASE ${DB_NAME}`);
      return true;
    } finally {
      await admin.end();
    }
  }

  private async migrate(script: string, pg: PostgresServer, processorPassword: string, fhirReaderPassword: string, logFile: string): Promise<void> {
    this.say('running migrations');
    const child = startChild({
      name: 'migrate',
      script,
      logFile,
      env: {
        ...baseEnv(),
        DB_HOST: pg.host,
        DB_PORT: String(pg.port),
        DB_NAME,
        DB_SSL_CA_FILE: pg.caFile,
        DB_ADMIN_USER: pg.adminUser,
        DB_ADMIN_PASSWORD: pg.adminPassword,
        DB_PROCESSOR_PASSWORD: processorPassword,
        DB_FHIR_READER_PASSWORD: fhirReaderPassword,
      },
    });
    const code = await child.exited;
    if (code !== 0) throw new Error(`migrations failed (exit ${code}); see ${logFile}`);
  }

  /**
   * Creates the stream when missing. The stream and the database must agree: a fresh database next
   * to an old stream would replay old records, and old checkpoints next to a new stream point at
   * sequence numbers that no longer exist, so either case starts both afresh.
   */
  private async ensureStream(kinesis: KinesisClient, pool: Pool, freshDatabase: boolean): Promise<void> {
    let exists = true;
    try {
      await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM_NAME }));
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
      exists = false;
    }
    if (exists && freshDatabase) {
      this.say(`new database: recreating stream ${STREAM_NAME}`);
      await kinesis.send(new DeleteStreamCommand({ StreamName: STREAM_NAME }));
      await waitFor(async () => {
        try {
          await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM_NAME }));
          return false;
        } catch (err) {
          return err instanceof ResourceNotFoundException;
        }
      }, 30_000, 'stream deletion');
      exists = false;
    }
    if (!exists) {
      this.say(`creating stream ${STREAM_NAME} with ${this.options.shards} shards`);
      await kinesis.send(new CreateStreamCommand({ StreamName: STREAM_NAME, ShardCount: this.options.shards }));
      await pool.query('DELETE FROM shard_leases WHERE stream_name = $1', [STREAM_NAME]);
    }
    await waitFor(async () => {
      const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM_NAME }));
      return s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
    }, 30_000, 'stream to become ACTIVE');
  }

  private async startProcessors(script: string, phiKeyFile: string, password: string, logDir: string): Promise<string[]> {
    const logFiles: string[] = [];
    const ready: Array<Promise<Supervisor<RunningChild>>> = [];
    for (let n = 1; n <= this.options.processors; n++) {
      const logFile = join(logDir, `processor-${n}.log`);
      logFiles.push(logFile);
      ready.push(
        Supervisor.start({
          name: `processor-${n}`,
          log: (m) => this.say(`${m}; see ${logFile}`),
          start: () => this.startProcessor(n, script, phiKeyFile, password, logFile),
        }),
      );
    }
    // Each supervisor is kept as soon as it exists, so a failure of another still stops it at shutdown.
    const started = await Promise.allSettled(ready);
    for (const r of started) if (r.status === 'fulfilled') this.processors.push(r.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    this.say(`${this.options.processors} processor(s) healthy; logs in ${logDir}`);
    return logFiles;
  }

  /**
   * Starts processor `n` and waits for its health check. The health port is free when chosen but
   * another program may take it first; a processor that fails to start is retried on a new port.
   */
  private async startProcessor(n: number, script: string, phiKeyFile: string, password: string, logFile: string): Promise<RunningChild> {
    const pg = this.postgres as PostgresServer;
    const kinesalite = (this.kinesalite as Supervisor<KinesaliteProcess>).current;
    for (let attempt = 1; ; attempt++) {
      const healthPort = await freePort();
      const child = startChild({
        name: `processor-${n}`,
        script,
        logFile,
        env: {
          ...baseEnv(),
          NODE_ENV: 'development',
          AWS_REGION: REGION,
          STREAM_NAME,
          KINESIS_ENDPOINT: kinesalite.endpoint,
          DB_HOST: pg.host,
          DB_PORT: String(pg.port),
          DB_NAME,
          DB_USER: PROCESSOR_ROLE,
          DB_AUTH: 'password',
          DB_PASSWORD: password,
          DB_SSL_CA_FILE: pg.caFile,
          PHI_LOCAL_KEY_FILE: phiKeyFile,
          WORKER_ID: `local-processor-${n}`,
          HEALTH_PORT: String(healthPort),
          LOG_LEVEL: 'info',
          ENVIRONMENT: 'local',
          // Poll an idle shard every 200 ms (Kinesis allows 5 GetRecords/s/shard) for a snappy demo,
          // and flush metrics every second so the status line can show MillisBehindLatest.
          IDLE_POLL_MS: '200',
          METRICS_FLUSH_MS: String(PROCESSOR_METRICS_FLUSH_MS),
          // Alerts: the relay publishes to the local bus through the EventBridge SDK; a short
          // escalation time so a run of a minute or two shows unacknowledged high alerts escalating.
          ALERT_EVENT_BUS_NAME: ALERT_BUS_NAME,
          EVENTS_ENDPOINT: (this.alertBus as AlertBus).endpoint,
          ALERT_ESCALATION_SECONDS: String(this.options.escalationSec),
        },
      });
      try {
        await waitForHealth(child, healthPort, logFile);
        this.processorPorts.set(child, { name: `processor-${n}-health`, port: healthPort });
        return child;
      } catch (err) {
        await stopChild(child, 5_000);
        if (attempt >= PROCESSOR_START_ATTEMPTS) throw err;
        this.say(`${(err as Error).message}; retrying`);
      }
    }
  }

  /** Stops everything that was started, in dependency order, and checks nothing is left running. */
  private async shutdown(): Promise<void> {
    const problems: string[] = [];
    const step = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
      }
    };
    const lastProcessors: RunningChild[] = [];
    await step('processors', async () => {
      const codes = await Promise.all(
        this.processors.map((p) =>
          p.stop((child) => {
            lastProcessors.push(child);
            return stopChild(child, PROCESSOR_STOP_DEADLINE_MS);
          }),
        ),
      );
      codes.forEach((code, i) => {
        // undefined: it had died and was waiting to be restarted when the run ended (counted in processor_restarts).
        if (code !== undefined && code !== 0) problems.push(`processor-${i + 1} exited with ${code}`);
      });
    });
    this.hl7Sender?.close();
    await step('hl7 gateway', async () => this.hl7?.stop());
    await step('hl7 log', async () => new Promise<void>((r) => (this.hl7Log ? this.hl7Log.end(r) : r())));
    await step('ingest', async () => this.ingest?.close());
    await step('ingest log', async () => new Promise<void>((r) => (this.ingestLog ? this.ingestLog.end(r) : r())));
    await step('alert client', async () => this.alertWatch?.stop());
    await step('alert bus', async () => this.alertBus?.stop());
    await step('acknowledge pool', async () => this.ackPool?.end());
    this.kinesis?.destroy();
    this.stoppingDatabase = true;
    await step('database pool', async () => this.pool?.end());
    await step('FHIR reader pool', async () => this.readerPool?.end());
    await step('kinesalite', async () => this.kinesalite?.stop((k) => k.stop()));
    await step('postgres', async () => this.postgresSupervisor?.stop((p) => p.stop()));
    for (const p of lastProcessors) if (isAlive(p.pid)) problems.push(`processor pid ${p.pid} still running`);
    const lastProcessorPorts = lastProcessors.flatMap((child) => this.processorPorts.get(child) ?? []);
    for (const { name, port } of [...this.ports, ...lastProcessorPorts]) {
      if (!(await portClosed(port))) problems.push(`${name} still listening on 127.0.0.1:${port}`);
    }
    if (problems.length > 0) {
      this.leftovers.push(...problems);
      this.say(`shutdown problems: ${problems.join('; ')}`);
    } else if (this.ports.length > 0 || this.processorPorts.size > 0) {
      this.say('stopped: nothing left running');
    }
  }

  /** Problems found while shutting down (a process or port left behind); the CLI fails the run on any. */
  readonly leftovers: string[] = [];
}

/** The few variables children inherit; everything else is set explicitly (never the caller's AWS or DB settings). */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR']) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function waitForHealth(child: RunningChild, port: number, logFile: string): Promise<void> {
  const deadline = Date.now() + PROCESSOR_READY_TIMEOUT_MS;
  let exited: number | string | undefined;
  void child.exited.then((code) => (exited = code));
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${child.name} exited with ${exited} during start-up; see ${logFile}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) });
      await res.text();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${child.name} not healthy after ${PROCESSOR_READY_TIMEOUT_MS} ms; see ${logFile}`);
}

/** Looks up stored times of pending latency samples, oldest first, up to `maxIds`. */
async function resolveLatencies(pool: Pool, latency: LatencySampler, maxIds: number): Promise<void> {
  let budget = maxIds;
  let previousPending = -1;
  while (budget > 0 && latency.pendingCount > 0 && latency.pendingCount !== previousPending) {
    previousPending = latency.pendingCount;
    const ids = latency.pendingIds(Math.min(LATENCY_LOOKUP_BATCH, budget));
    budget -= ids.length;
    const times = await storedTimes(pool, ids);
    for (const [id, ms] of times) latency.resolve(id, ms);
    if (times.size < ids.length) break; // the rest are not stored yet
  }
}

interface StatusReading {
  readonly at: number;
  readonly stored: number;
  readonly deadLetters: number;
  readonly alerts: number;
}

/** Reads the database once a second and prints the live status line. */
class StatusLoop {
  latest: StatusReading | null = null;
  private timer?: NodeJS.Timeout;
  private running: Promise<void> | null = null;
  private previous: { at: number; sent: number; stored: number } | null = null;
  private recentFrom = 0;

  constructor(
    private readonly pool: Pool,
    private readonly scope: RunScope,
    private readonly simulator: Simulator,
    private readonly latency: LatencySampler,
    private readonly millisBehind: MillisBehindTracker,
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return; // a slow query: skip this tick rather than pile up
      this.running = this.tick()
        .catch((err: Error) => {
          this.out.write(`[local] status query failed: ${err.message}\n`);
        })
        .finally(() => (this.running = null));
    }, STATUS_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    if (this.out.isTTY) this.out.write('\n');
  }

  private async tick(): Promise<void> {
    const at = Date.now();
    const [stored, deadLetters, alerts] = await Promise.all([
      countStored(this.pool, this.scope),
      countDeadLetters(this.pool, this.scope),
      countAlerts(this.pool, this.scope),
    ]);
    await resolveLatencies(this.pool, this.latency, 5 * LATENCY_LOOKUP_BATCH);
    this.latest = { at, stored, deadLetters, alerts };
    const sent = this.simulator.counters.validAccepted;
    const prev = this.previous ?? { at: this.scope.startedAt.getTime(), sent: 0, stored: 0 };
    const dt = Math.max(0.001, (at - prev.at) / 1000);
    this.previous = { at, sent, stored };
    // p50/p99 over the last ~10 s of samples, so the live line follows the current state.
    const recent = this.latency.recentPercentiles(this.recentFrom);
    if (this.latency.resolvedCount - this.recentFrom > 2_000) this.recentFrom = this.latency.resolvedCount - 1_000;
    const c = this.simulator.counters;
    const line = formatStatusLine({
      elapsedSeconds: (at - this.scope.startedAt.getTime()) / 1000,
      sentPerSec: (sent - prev.sent) / dt,
      storedPerSec: (stored - prev.stored) / dt,
      eventsSent: sent,
      eventsStored: stored,
      millisBehindLatest: this.millisBehind.poll(),
      deadLetters,
      alerts,
      rejected: c.schemaInvalidRejected,
      duplicates: c.duplicatesAccepted,
      throttled: c.throttled,
      p50Ms: recent.p50,
      p99Ms: recent.p99,
    });
    // On a terminal, one redrawn line, cut to the width so it never wraps (a wrapped line cannot be redrawn).
    const columns = (this.out as { columns?: number }).columns;
    this.out.write(this.out.isTTY ? `\r\x1b[2K${columns ? line.slice(0, columns - 1) : line}` : `${line}\n`);
  }
}
