/**
 * Dead-letter requeues, in two halves so no operator-run task ever holds a key, the stream or the
 * admin credentials:
 * - the request command (`node dist/src/db/requeue-dead-letters.js [--reason R] [--since ISO]
 *   [--until ISO] [--limit N] [--dry-run]`, the ops ECS task as database role `vitals_ops` with IAM
 *   auth) marks matching dead letters `requeue_requested_at`; it can read no payload;
 * - the processor's requeue sweep (src/processor/requeue-sweep.ts) runs {@link requeueDeadLetters} on
 *   requested rows: decrypts each payload with the dead-letter key (never the patient-id key),
 *   re-puts it with PutRecords and marks `requeued_at` only after Kinesis accepted it. At-least-once:
 *   a crash between the put and the mark re-puts the record, and the writer's dedupe (observations'
 *   own key) stores it once.
 * Output: one JSON summary line. Never payloads, partition keys or patient ids.
 */
import type { Pool } from 'pg';
import { createPool } from '../adapters/db';
import { filterClause } from '../adapters/dead-letter-requeue';
export * from '../adapters/dead-letter-requeue';
import { parseRequeueArgs, requeueEnvironmentFrom, RequeueConfigError, type RequeueFilter } from './requeue-args';

export interface RequeueRequestSummary {
  readonly dryRun: boolean;
  /** Dead letters matching the filters, not yet requeued nor requested (capped by --limit). */
  readonly selected: number;
  /** Marked `requeue_requested_at` by this run (0 on a dry run); the processor requeues them. */
  readonly requested: number;
}

/**
 * Marks the matching dead letters (oldest id first, at most `limit`) as requested; a dry run counts
 * them. Touches only dead_letters' metadata columns, which is all the ops role may read.
 */
export async function requestRequeue(filter: RequeueFilter, db: Pool): Promise<RequeueRequestSummary> {
  const { where, params } = filterClause(filter);
  const limit = filter.limit ?? null;
  const candidates = `SELECT dead_letter_id FROM dead_letters WHERE ${where} AND requeue_requested_at IS NULL ORDER BY dead_letter_id LIMIT $4`;
  if (filter.dryRun) {
    const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM (${candidates}) c`, [...params, limit]);
    return { dryRun: true, selected: Number(rows[0]?.n ?? 0), requested: 0 };
  }
  const { rowCount } = await db.query(
    `UPDATE dead_letters SET requeue_requested_at = now() WHERE dead_letter_id IN (${candidates}) AND requeue_requested_at IS NULL`,
    [...params, limit],
  );
  return { dryRun: false, selected: rowCount ?? 0, requested: rowCount ?? 0 };
}

/** The CLI: parse, connect as the ops role, request, print one summary line. Exit 0 done, 1 error. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, write: (line: string) => void): Promise<number> {
  // Flags and environment both checked, so every problem is reported at once.
  const problems: string[] = [];
  const attempt = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (err) {
      problems.push(...(err instanceof RequeueConfigError ? err.problems : [String(err)]));
      return undefined;
    }
  };
  const filter = attempt(() => parseRequeueArgs(argv));
  const settings = attempt(() => requeueEnvironmentFrom(env));
  if (!filter || !settings) {
    write(JSON.stringify({ level: 'fatal', msg: 'invalid requeue configuration', problems }));
    return 1;
  }
  const db = createPool(settings.db);
  db.on('error', () => undefined); // a dropped idle connection; the next query reports it
  try {
    const summary = await requestRequeue(filter, db);
    write(JSON.stringify({ level: 'info', msg: 'dead-letter requeue requested', dbUser: settings.db.user, ...summary }));
    return 0;
  } catch (err) {
    // pg messages name objects and SQLSTATEs, never row data; no payload is ever in an error here.
    const code = (err as { code?: unknown }).code;
    write(JSON.stringify({ level: 'error', msg: 'dead-letter requeue request failed', err: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) }));
    return 1;
  } finally {
    await db.end();
  }
}

if (require.main === module) {
  main(process.argv.slice(2), process.env, (line) => process.stdout.write(`${line}\n`)).then((code) => process.exit(code));
}
