/**
 * Shard leases in PostgreSQL, with Kinesis Client Library semantics:
 * - one lease row per shard (parents recorded from ListShards); a child is leased only once every
 *   parent still in the table is finished (drained to its end, or gone from the stream: ExpiredLease);
 * - a worker takes unowned or expired leases up to its fair share, renews its own on a timer, and,
 *   when it is below its fair share with nothing free, steals up to its fair share at once from the
 *   most loaded workers (never leaving one below itself);
 * - every change of owner increments `epoch`; every commit is fenced on (owner, epoch), so a worker
 *   that lost a lease can never commit for it again.
 * Times come from the database clock (now()), so worker clock skew does not matter.
 */
import { ListShardsCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import type { Pool } from 'pg';

export interface LeaseView {
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
  readonly owner: string | null;
  readonly epoch: number;
  /** Owner set but not renewed in time. */
  readonly expired: boolean;
  readonly finished: boolean;
}

export interface LeasePlan {
  /** Unowned or expired leases to take, in order. */
  readonly take: readonly LeaseView[];
  /** Leases to steal (most loaded workers first) to reach the fair share. */
  readonly steal: readonly LeaseView[];
  readonly fairShare: number;
}

/** A shard may be read once none of its parents still in the table is unfinished. */
export function isEligible(lease: LeaseView, all: ReadonlyMap<string, LeaseView>): boolean {
  if (lease.finished) return false;
  return lease.parentShardIds.every((p) => {
    const parent = all.get(p);
    return parent === undefined || parent.finished;
  });
}

/** Pure: which leases `me` should take or steal now. */
export function planLeases(leases: readonly LeaseView[], me: string): LeasePlan {
  const byId = new Map(leases.map((l) => [l.shardId, l]));
  const eligible = leases.filter((l) => isEligible(l, byId)).sort((a, b) => a.shardId.localeCompare(b.shardId));
  const live = (l: LeaseView): boolean => l.owner !== null && !l.expired;
  const counts = new Map<string, number>([[me, 0]]);
  for (const l of eligible) if (live(l)) counts.set(l.owner as string, (counts.get(l.owner as string) ?? 0) + 1);
  const fairShare = eligible.length === 0 ? 0 : Math.ceil(eligible.length / counts.size);
  const mine = counts.get(me) ?? 0;
  const free = eligible.filter((l) => !live(l));
  const take = free.slice(0, Math.max(0, fairShare - mine));
  // Still below fair share with nothing free: steal, one lease at a time from whichever worker is the
  // most loaded, but only while that leaves it no worse off than us (difference >= 2), so two workers
  // never trade a lease back and forth. All of it in one plan: a new worker reaches its fair share
  // in one lease cycle instead of one steal per renewal period.
  const steal: LeaseView[] = [];
  const remaining = new Map<string, LeaseView[]>();
  for (const l of eligible) {
    if (!live(l) || l.owner === me) continue;
    const list = remaining.get(l.owner as string);
    if (list) list.push(l);
    else remaining.set(l.owner as string, [l]);
  }
  for (let held = mine + take.length; held < fairShare; held++) {
    let victim: string | undefined;
    let most = 0;
    for (const [owner, n] of counts) {
      if (owner === me) continue;
      if (n > most || (n === most && victim !== undefined && owner < victim)) {
        victim = owner;
        most = n;
      }
    }
    if (victim === undefined || most - held < 2) break;
    steal.push((remaining.get(victim) as LeaseView[]).pop() as LeaseView);
    counts.set(victim, most - 1);
  }
  return { take, steal, fairShare };
}

export interface HeldLease {
  readonly shardId: string;
  readonly epoch: number;
  readonly checkpoint: string | null;
}

export class LeaseLostError extends Error {
  constructor(readonly shardId: string) {
    super(`lease on ${shardId} is no longer held by this worker`);
    this.name = 'LeaseLostError';
  }
}

export interface LeaseManagerOptions {
  readonly pool: Pool;
  readonly streamName: string;
  readonly workerId: string;
  readonly ttlMs: number;
}

interface LeaseRow {
  shard_id: string;
  parent_shard_ids: string[];
  owner: string | null;
  epoch: string;
  expired: boolean;
  finished: boolean;
}

/**
 * An unfinished lease whose shard ListShards no longer returns: the shard was trimmed (all its data
 * past the stream's retention, e.g. processors down longer than the retention period) or the stream
 * was recreated. Its remaining records can no longer be read (they are lost), so the lease is
 * finished as the Kinesis Client Library does, and its children become eligible.
 */
export interface ExpiredLease {
  readonly shardId: string;
  /** The last sequence number committed, or null if nothing of the shard was ever read. */
  readonly checkpoint: string | null;
  readonly epoch: number;
}

export interface ShardSync {
  readonly added: number;
  readonly pruned: number;
  readonly expired: readonly ExpiredLease[];
}

export class LeaseManager {
  constructor(private readonly options: LeaseManagerOptions) {}

  /**
   * Records every shard of the stream (new shards after a reshard included); prunes finished leases of
   * shards gone from the stream; and finishes, as expired, unfinished leases of shards gone from the
   * stream (see ExpiredLease), so their children become eligible instead of waiting forever.
   */
  async syncShards(kinesis: KinesisClient): Promise<ShardSync> {
    const shards: Shard[] = [];
    let nextToken: string | undefined;
    do {
      const page = await kinesis.send(
        new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: this.options.streamName }),
      );
      shards.push(...(page.Shards ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    const ids = shards.map((s) => s.ShardId as string);
    const parents = shards.map((s) => [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p));
    const { rowCount: added } = await this.options.pool.query(
      `INSERT INTO shard_leases (stream_name, shard_id, parent_shard_ids)
       SELECT $1, id, ARRAY(SELECT jsonb_array_elements_text(p))
       FROM unnest($2::text[], $3::jsonb[]) AS t(id, p)
       ON CONFLICT (stream_name, shard_id) DO NOTHING`,
      [this.options.streamName, ids, parents.map((p) => JSON.stringify(p))],
    );
    // An active stream always has at least one open shard: an empty listing proves nothing was trimmed.
    if (ids.length === 0) return { added: added ?? 0, pruned: 0, expired: [] };
    // A shard trimmed from the stream (past retention) whose lease is finished is no longer needed.
    // Runs before the expiry below, so an expired lease stays visible until the next sync.
    const { rowCount: pruned } = await this.options.pool.query(
      `DELETE FROM shard_leases WHERE stream_name = $1 AND finished AND NOT (shard_id = ANY($2::text[]))`,
      [this.options.streamName, ids],
    );
    // Fenced like any lease change: the epoch moves and the owner goes, so a reader still holding the
    // lease can never commit for it again; NOT finished makes it idempotent, so when several workers
    // sync at once exactly one of them gets the row back (one warning, one metric).
    const { rows } = await this.options.pool.query<{ shard_id: string; checkpoint: string | null; epoch: string }>(
      `UPDATE shard_leases
       SET finished = true, owner = NULL, expires_at = NULL, epoch = epoch + 1, updated_at = now()
       WHERE stream_name = $1 AND NOT finished AND NOT (shard_id = ANY($2::text[]))
       RETURNING shard_id, checkpoint, epoch`,
      [this.options.streamName, ids],
    );
    const expired = rows.map((r) => ({ shardId: r.shard_id, checkpoint: r.checkpoint, epoch: Number(r.epoch) }));
    return { added: added ?? 0, pruned: pruned ?? 0, expired };
  }

  async list(): Promise<LeaseView[]> {
    const { rows } = await this.options.pool.query<LeaseRow>(
      `SELECT shard_id, parent_shard_ids, owner, epoch, finished,
              (owner IS NOT NULL AND expires_at < now()) AS expired
       FROM shard_leases WHERE stream_name = $1`,
      [this.options.streamName],
    );
    return rows.map((r) => ({
      shardId: r.shard_id,
      parentShardIds: r.parent_shard_ids,
      owner: r.owner,
      epoch: Number(r.epoch),
      expired: r.expired,
      finished: r.finished,
    }));
  }

  /** Extends this worker's leases; returns those still held (a missing one was stolen or finished). */
  async renew(): Promise<HeldLease[]> {
    const { rows } = await this.options.pool.query<{ shard_id: string; epoch: string; checkpoint: string | null }>(
      `UPDATE shard_leases SET expires_at = now() + make_interval(secs => $3::double precision / 1000), updated_at = now()
       WHERE stream_name = $1 AND owner = $2 AND NOT finished
       RETURNING shard_id, epoch, checkpoint`,
      [this.options.streamName, this.options.workerId, this.options.ttlMs],
    );
    return rows.map((r) => ({ shardId: r.shard_id, epoch: Number(r.epoch), checkpoint: r.checkpoint }));
  }

  /**
   * Takes (or steals) a lease seen at `seen.epoch`: succeeds only if nobody changed it since
   * (optimistic concurrency), bumping the epoch.
   */
  async acquire(seen: LeaseView, mode: 'take' | 'steal'): Promise<HeldLease | undefined> {
    const condition =
      mode === 'take'
        ? '(owner IS NULL OR expires_at < now() OR owner = $3)'
        : 'owner = $5 AND expires_at >= now()';
    const params: unknown[] = [this.options.streamName, seen.shardId, this.options.workerId, seen.epoch];
    if (mode === 'steal') params.push(seen.owner);
    params.push(this.options.ttlMs);
    const ttlParam = `$${params.length}`;
    const { rows } = await this.options.pool.query<{ epoch: string; checkpoint: string | null }>(
      `UPDATE shard_leases
       SET owner = $3, epoch = epoch + 1, expires_at = now() + make_interval(secs => ${ttlParam}::double precision / 1000), updated_at = now()
       WHERE stream_name = $1 AND shard_id = $2 AND epoch = $4 AND NOT finished AND ${condition}
       RETURNING epoch, checkpoint`,
      params,
    );
    const row = rows[0];
    return row ? { shardId: seen.shardId, epoch: Number(row.epoch), checkpoint: row.checkpoint } : undefined;
  }

  /** Gives leases back (graceful shutdown): others may take them at once. Fenced on epoch. */
  async release(leases: readonly Pick<HeldLease, 'shardId' | 'epoch'>[]): Promise<number> {
    if (leases.length === 0) return 0;
    const { rowCount } = await this.options.pool.query(
      `UPDATE shard_leases AS l SET owner = NULL, expires_at = NULL, updated_at = now()
       FROM unnest($3::text[], $4::bigint[]) AS t(shard_id, epoch)
       WHERE l.stream_name = $1 AND l.owner = $2 AND l.shard_id = t.shard_id AND l.epoch = t.epoch`,
      [this.options.streamName, this.options.workerId, leases.map((l) => l.shardId), leases.map((l) => l.epoch)],
    );
    return rowCount ?? 0;
  }
}
