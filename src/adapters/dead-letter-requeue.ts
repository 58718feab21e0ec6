/**
 * Putting dead letters back on the stream (shared: the processor's requeue sweep performs requeues,
 * src/db/requeue-dead-letters.ts requests them with the same filters). Decrypts each payload with the
 * dead-letter protector, re-puts it with PutRecords and marks `requeued_at` only after Kinesis accepted
 * it. Never logs or returns payloads, partition keys or patient ids.
 */
import { createHash } from 'node:crypto';
import { PutRecordsCommand, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import type { Pool } from 'pg';
import type { PayloadProtector } from './phi';

/** Which dead letters (src/db/requeue-args.ts parses these from flags). */
export interface DeadLetterFilter {
  readonly reason?: string;
  readonly since?: Date;
  readonly until?: Date;
  readonly limit?: number;
  readonly dryRun?: boolean;
}

/** PutRecords' own limits: 500 entries and 5 MiB (data plus partition keys) per request. */
export const PUT_RECORDS_MAX_ENTRIES = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;
/** Kinesis' partition key limit (Unicode characters). */
export const PARTITION_KEY_MAX_CHARS = 256;
/** Attempts for the entries of one batch Kinesis keeps refusing (throttling, KMS errors) before they count as failed. */
export const PUT_MAX_ATTEMPTS = 8;
export const PUT_BACKOFF_BASE_MS = 100;
export const PUT_BACKOFF_CAP_MS = 5_000;
/** At most this many failed dead-letter ids in the summary (ids only: never payloads). */
export const MAX_REPORTED_FAILED_IDS = 100;
/** One requeue at a time per database (session advisory lock key). */
export const REQUEUE_LOCK = 'vitals_requeue_dead_letters';

export interface RequeueOptions extends DeadLetterFilter {
  /** The stream the records go back to (the processor's STREAM_NAME). */
  readonly streamName: string;
  /** Dead letters per page and per PutRecords call. @default PUT_RECORDS_MAX_ENTRIES */
  readonly batchSize?: number;
  /** @default PUT_MAX_ATTEMPTS */
  readonly maxAttempts?: number;
  /** Only rows an operator requested (`requeue_requested_at` set): the processor's sweep. @default false */
  readonly requestedOnly?: boolean;
  /** Another run holds the lock: return an empty summary instead of throwing (concurrent processor tasks). @default false */
  readonly skipIfLocked?: boolean;
}

/** The slice of the Kinesis client used here (tests may wrap the real one). */
export interface PutRecordsClient {
  send(command: PutRecordsCommand): Promise<PutRecordsCommandOutput>;
}

export interface RequeueDeps {
  /** Reads dead_letters and data_keys, writes requeued_at (the processor role may). */
  readonly db: Pool;
  readonly kinesis: PutRecordsClient;
  /** Decrypts dead-letter payloads (the dead-letter key only); not needed for a dry run. */
  readonly phi?: PayloadProtector;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface RequeueSummary {
  readonly dryRun: boolean;
  /** Dead letters matching the filters and not yet requeued (capped by --limit). */
  readonly selected: number;
  readonly requeued: number;
  readonly failed: number;
  /** Failure counts by cause: a Kinesis error code, an SDK error name, or `decrypt`. */
  readonly failures: Readonly<Record<string, number>>;
  /** The first MAX_REPORTED_FAILED_IDS failed dead_letter_id values, for a follow-up run or the incident. */
  readonly failedDeadLetterIds: readonly string[];
}

interface DeadLetterRow {
  readonly dead_letter_id: string;
  readonly stream_name: string;
  readonly shard_id: string;
  readonly sequence_number: string;
  readonly payload_ciphertext: Buffer;
  readonly data_key_id: string;
}

interface Entry {
  readonly id: string;
  readonly data: Buffer;
  readonly partitionKey: string;
}

/**
 * The event's device id (the stream's partition key, design contract) when the payload is a JSON
 * object with a usable one; otherwise a stable hash of the dead letter's id (undecodable payloads).
 */
export function partitionKeyFor(deadLetterId: string, payload: Buffer): string {
  try {
    const parsed: unknown = JSON.parse(payload.toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const deviceId = (parsed as { deviceId?: unknown }).deviceId;
      if (typeof deviceId === 'string' && deviceId.length > 0 && deviceId.length <= PARTITION_KEY_MAX_CHARS) return deviceId;
    }
  } catch {
    // not JSON: fall through
  }
  return `dead-letter-${createHash('sha256').update(`dead_letters/${deadLetterId}`).digest('hex').slice(0, 32)}`;
}

/** Splits entries into PutRecords requests within both the entry and the byte limit. */
export function putRecordsBatches<T extends { readonly data: Buffer; readonly partitionKey: string }>(entries: readonly T[], maxEntries = PUT_RECORDS_MAX_ENTRIES): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = e.data.length + Buffer.byteLength(e.partitionKey, 'utf8');
    if (current.length > 0 && (current.length >= maxEntries || bytes + size > PUT_RECORDS_MAX_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export function filterClause(options: DeadLetterFilter & { readonly requestedOnly?: boolean }): { where: string; params: unknown[] } {
  const params: unknown[] = [options.reason ?? null, options.since ?? null, options.until ?? null];
  return {
    where: `requeued_at IS NULL ${options.requestedOnly ? 'AND requeue_requested_at IS NOT NULL' : ''} AND ($1::text IS NULL OR reason = $1) AND ($2::timestamptz IS NULL OR dead_lettered_at >= $2)
            AND ($3::timestamptz IS NULL OR dead_lettered_at < $3)`,
    params,
  };
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Puts the entries with PutRecords, re-sending the entries Kinesis refused (and whole requests that
 * threw) with full-jitter backoff; returns the ids accepted and the last error code of each refused one.
 */
async function putWithRetries(
  kinesis: PutRecordsClient,
  streamName: string,
  entries: readonly Entry[],
  maxAttempts: number,
  sleep: (ms: number) => Promise<void>,
): Promise<{ accepted: string[]; refused: Map<string, string> }> {
  const accepted: string[] = [];
  const refused = new Map<string, string>();
  let pending = [...entries];
  for (let attempt = 1; pending.length > 0 && attempt <= maxAttempts; attempt++) {
    if (attempt > 1) await sleep(Math.random() * Math.min(PUT_BACKOFF_CAP_MS, PUT_BACKOFF_BASE_MS * 2 ** (attempt - 1)));
    let out: PutRecordsCommandOutput;
    try {
      out = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: pending.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey })) }));
    } catch (err) {
      // Error names only: SDK messages can quote request fields.
      const code = err instanceof Error ? err.name : 'PutRecordsFailed';
      for (const e of pending) refused.set(e.id, code);
      continue;
    }
    const next: Entry[] = [];
    pending.forEach((e, i) => {
      const result = out.Records?.[i];
      if (result && !result.ErrorCode && result.SequenceNumber) {
        accepted.push(e.id);
        refused.delete(e.id);
      } else {
        refused.set(e.id, result?.ErrorCode ?? 'NoResult');
        next.push(e);
      }
    });
    pending = next;
  }
  return { accepted, refused };
}

/**
 * Selects dead letters not yet requeued (filters, oldest id first, at most `limit`), and page by page
 * decrypts them, re-puts them and marks the accepted ones. A dead letter that cannot be decrypted or
 * put counts as failed and stays unmarked, so a later run retries it.
 */
export async function requeueDeadLetters(options: RequeueOptions, deps: RequeueDeps): Promise<RequeueSummary> {
  const { where, params } = filterClause(options);
  const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
  if (options.dryRun) {
    const { rows } = await deps.db.query<{ n: string }>(`SELECT count(*) AS n FROM dead_letters WHERE ${where}`, params);
    return { dryRun: true, selected: Math.min(Number(rows[0]?.n ?? 0), limit), requeued: 0, failed: 0, failures: {}, failedDeadLetterIds: [] };
  }
  const phi = deps.phi;
  if (!phi) throw new Error('requeueDeadLetters needs a PHI protector (deps.phi) unless dryRun');
  const sleep = deps.sleep ?? defaultSleep;
  const batchSize = Math.min(options.batchSize ?? PUT_RECORDS_MAX_ENTRIES, PUT_RECORDS_MAX_ENTRIES);
  const maxAttempts = options.maxAttempts ?? PUT_MAX_ATTEMPTS;

  // Two concurrent runs would put the same records twice: harmless (dedupe), but pointless.
  const lock = await deps.db.connect();
  let locked = false;
  try {
    const { rows } = await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [REQUEUE_LOCK]);
    locked = rows[0]?.ok === true;
    if (!locked && options.skipIfLocked) return { dryRun: false, selected: 0, requeued: 0, failed: 0, failures: {}, failedDeadLetterIds: [] };
    if (!locked) throw new Error('another requeue run holds the lock on this database; wait for it to finish');

    let selected = 0;
    let requeued = 0;
    const failures: Record<string, number> = {};
    const failedIds: string[] = [];
    const fail = (id: string, cause: string): void => {
      failures[cause] = (failures[cause] ?? 0) + 1;
      if (failedIds.length < MAX_REPORTED_FAILED_IDS) failedIds.push(id);
    };
    let after = '0';
    while (selected < limit) {
      // A page is at most one PutRecords request: <= batchSize rows and <= 5 MiB of payloads (always
      // at least one row), so memory stays bounded whatever the payload sizes (up to 1 MiB each).
      const { rows: page } = await deps.db.query<DeadLetterRow>(
        `SELECT dead_letter_id::text, stream_name, shard_id, sequence_number, payload_ciphertext, data_key_id FROM (
           SELECT *, sum(payload_bytes) OVER (ORDER BY dead_letter_id) AS running_bytes, row_number() OVER (ORDER BY dead_letter_id) AS n
           FROM (SELECT * FROM dead_letters WHERE ${where} AND dead_letter_id > $4::bigint ORDER BY dead_letter_id LIMIT $5) candidates
         ) page
         WHERE n = 1 OR running_bytes <= $6 ORDER BY dead_letter_id`,
        [...params, after, Math.min(batchSize, limit - selected), PUT_RECORDS_MAX_BYTES],
      );
      if (page.length === 0) break;
      selected += page.length;
      after = (page[page.length - 1] as DeadLetterRow).dead_letter_id;

      const entries: Entry[] = [];
      for (const row of page) {
        try {
          // The writer bound each ciphertext to its origin (additional data).
          const aad = Buffer.from(`${row.stream_name}/${row.shard_id}/${row.sequence_number}`);
          const data = await phi.decrypt({ ciphertext: row.payload_ciphertext, dataKeyId: row.data_key_id }, aad);
          entries.push({ id: row.dead_letter_id, data, partitionKey: partitionKeyFor(row.dead_letter_id, data) });
        } catch {
          // The message could only name a key id; the cause class is what the operator needs.
          fail(row.dead_letter_id, 'decrypt');
        }
      }
      for (const batch of putRecordsBatches(entries, batchSize)) {
        const { accepted, refused } = await putWithRetries(deps.kinesis, options.streamName, batch, maxAttempts, sleep);
        if (accepted.length > 0) {
          // Only after Kinesis accepted them: a crash before this line re-puts them next run (deduped).
          await deps.db.query('UPDATE dead_letters SET requeued_at = now() WHERE dead_letter_id = ANY($1::bigint[]) AND requeued_at IS NULL', [accepted]);
          requeued += accepted.length;
        }
        for (const [id, code] of refused) fail(id, code);
      }
    }
    const failed = Object.values(failures).reduce((a, b) => a + b, 0);
    return { dryRun: false, selected, requeued, failed, failures, failedDeadLetterIds: failedIds };
  } finally {
    if (locked) await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [REQUEUE_LOCK]).catch(() => undefined);
    lock.release();
  }
}

