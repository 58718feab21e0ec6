/**
 * The peers our processor is compared with, as a child process of the benchmark:
 * - `minimal`: GetRecords -> JSON.parse -> one `INSERT ... SELECT FROM unnest(...)` per batch
 *   (autocommit, ON CONFLICT DO NOTHING on the event id), no validation, no checkpoint, no
 *   pseudonymisation: the least a consumer of this stream can do;
 * - `naive`: the same, but one INSERT per record (what the AWS samples imply).
 * One reader per shard (one connection each), at most 5 GetRecords calls/s/shard like ours. Reads each
 * shard from TRIM_HORIZON until it has seen the shard's last sequence number, then prints `done`.
 *
 * Protocol: configuration as JSON in BENCH_PEER; prints `ready` once connected, `done <json>` when
 * every shard is read, then waits for SIGTERM (the benchmark reads /proc while it is still alive).
 */
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import { Pool } from 'pg';
import { tlsOptions } from '../../src/adapters/db';
import { kinesisClientFor } from '../../src/adapters/kinesis-client';

export type PeerMode = 'minimal' | 'naive';

export interface PeerConfig {
  readonly mode: PeerMode;
  readonly endpoint: string;
  readonly stream: string;
  readonly shards: readonly { readonly shardId: string; readonly lastSequence: string }[];
  readonly db: { readonly host: string; readonly port: number; readonly database: string; readonly user: string; readonly password: string; readonly caFile: string };
  readonly maxRecordsPerCall: number;
}

/** The peers' table: the event's fields as typed columns, as given (no unit conversion). */
export const PEER_TABLE_SQL = `
CREATE TABLE peer_events (
  event_id         uuid PRIMARY KEY,
  observed_at      timestamptz NOT NULL,
  patient_id       text NOT NULL,
  device_id        text NOT NULL,
  facility_id      text NOT NULL,
  pulse            double precision,
  respiration_rate double precision,
  spo2             double precision,
  systolic_bp      double precision,
  diastolic_bp     double precision,
  temperature      double precision,
  consciousness    text
)`;

const COLUMNS = 12;
const UNNEST_INSERT = `INSERT INTO peer_events SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
  $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::text[]) ON CONFLICT (event_id) DO NOTHING`;
const ROW_INSERT = `INSERT INTO peer_events VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (event_id) DO NOTHING`;

interface Event {
  eventId: string;
  observedAt: string;
  patientId: string;
  deviceId: string;
  facilityId: string;
  vitals?: Record<string, { value?: number } | string | boolean | undefined>;
}

/** The event's columns, or null for bytes that are not an event (skipped: no validation). */
function columns(data: Uint8Array): unknown[] | null {
  let e: Event;
  try {
    e = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as Event;
  } catch {
    return null;
  }
  if (typeof e !== 'object' || e === null || typeof e.eventId !== 'string') return null;
  const v = e.vitals ?? {};
  const num = (k: string): number | null => {
    const x = v[k];
    return typeof x === 'object' && typeof x.value === 'number' ? x.value : null;
  };
  return [e.eventId, e.observedAt, e.patientId, e.deviceId, e.facilityId, num('pulse'), num('respirationRate'), num('spo2'),
    num('systolicBp'), num('diastolicBp'), num('temperature'), typeof v.consciousness === 'string' ? v.consciousness : null];
}

async function readShard(config: PeerConfig, pool: Pool, shard: PeerConfig['shards'][number]): Promise<number> {
  const kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: config.endpoint });
  let iterator = (await kinesis.send(new GetShardIteratorCommand({ StreamName: config.stream, ShardId: shard.shardId, ShardIteratorType: 'TRIM_HORIZON' })))
    .ShardIterator as string;
  const client = await pool.connect();
  let records = 0;
  let lastCall = 0;
  try {
    for (;;) {
      const wait = lastCall + 200 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      lastCall = Date.now();
      const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: config.maxRecordsPerCall }));
      const batch = out.Records ?? [];
      records += batch.length;
      if (config.mode === 'minimal') {
        const arrays: unknown[][] = Array.from({ length: COLUMNS }, () => []);
        for (const r of batch) {
          const c = columns(r.Data ?? new Uint8Array());
          if (c) for (let i = 0; i < COLUMNS; i++) (arrays[i] as unknown[]).push(c[i]);
        }
        if ((arrays[0] as unknown[]).length > 0) await client.query(UNNEST_INSERT, arrays);
      } else {
        for (const r of batch) {
          const c = columns(r.Data ?? new Uint8Array());
          if (c) await client.query(ROW_INSERT, c);
        }
      }
      if (batch.length > 0 && batch[batch.length - 1]?.SequenceNumber === shard.lastSequence) return records;
      if (!out.NextShardIterator) return records;
      iterator = out.NextShardIterator;
    }
  } finally {
    client.release();
    kinesis.destroy();
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_PEER ?? '') as PeerConfig;
  const pool = new Pool({ ...config.db, ssl: tlsOptions(config.db.caFile), max: config.shards.length });
  // Connect every shard's connection before `ready`, as our processor has its pool warm by then.
  const warm = await Promise.all(config.shards.map(() => pool.connect()));
  for (const c of warm) c.release();
  process.stdout.write('ready\n');
  const counts = await Promise.all(config.shards.map((s) => readShard(config, pool, s)));
  process.stdout.write(`done ${JSON.stringify({ records: counts.reduce((a, b) => a + b, 0) })}\n`);
  process.on('SIGTERM', () => {
    void pool.end().finally(() => process.exit(0));
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`peer consumer failed: ${String(err)}\n`);
    process.exit(1);
  });
}
