/**
 * How fast retention prunes event ids (the dedupe keys) on the local PostgreSQL, as the processor's
 * hourly maintenance does it: apply_retention() in batches of RETENTION_BATCH until none are left.
 *
 *   npx ts-node --transpile-only bench/retention.ts [expired=1000000] [kept=1000000]
 *
 * Loads `expired` ids stored 401 days ago and `kept` recent ones (the table also holds what must
 * stay), then times the pruning loop as the processor role. Prints figures; asserts nothing.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { join } from 'node:path';
import { startPostgres, tempDataDir } from '../src/local/servers';
import { tlsOptions } from '../src/adapters/db';
import { RETENTION_BATCH, applyRetention } from '../src/processor/processor';

const EXPIRED = Number(process.argv[2] ?? 1_000_000);
const KEPT = Number(process.argv[3] ?? 1_000_000);
const ROOT = join(__dirname, '..');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const pg = await startPostgres({ dataDir: tempDataDir('vitals-bench-retention-'), tls: true });
  try {
    const admin = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: 'postgres', ssl: tlsOptions(pg.caFile) });
    await admin.connect();
    await admin.query('CREATE DATABASE vitals');
    await admin.end();
    const processorPassword = randomBytes(12).toString('hex');
    const dbEnv = { DB_HOST: pg.host, DB_PORT: String(pg.port), DB_NAME: 'vitals', DB_SSL_CA_FILE: pg.caFile };
    await run(['-r', 'ts-node/register/transpile-only', 'src/db/migrate.ts'], {
      ...process.env,
      ...dbEnv,
      DB_ADMIN_USER: pg.adminUser,
      DB_ADMIN_PASSWORD: pg.adminPassword,
      DB_PROCESSOR_PASSWORD: processorPassword,
    });

    const db = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: 'vitals', ssl: tlsOptions(pg.caFile) });
    await db.connect();
    const loadStarted = Date.now();
    // Interleaved in storage order as they would be: the expired rows first (older), then the kept.
    await db.query(
      `INSERT INTO event_ids (event_id, stored_at)
       SELECT gen_random_uuid(), t FROM (SELECT now() - interval '401 days' + make_interval(secs => g / 1000.0) AS t FROM generate_series(1, $1) g) s`,
      [EXPIRED],
    );
    await db.query(
      `INSERT INTO event_ids (event_id, stored_at)
       SELECT gen_random_uuid(), t FROM (SELECT now() - interval '10 days' + make_interval(secs => g / 1000.0) AS t FROM generate_series(1, $1) g) s`,
      [KEPT],
    );
    await db.query('VACUUM ANALYZE event_ids');
    const loadS = (Date.now() - loadStarted) / 1000;
    await db.end();

    const pool = new Pool({ host: pg.host, port: pg.port, user: 'vitals_processor', password: processorPassword, database: 'vitals', ssl: tlsOptions(pg.caFile), max: 1 });
    const started = Date.now();
    const result = await applyRetention(pool, undefined, 60 * 60_000);
    const seconds = (Date.now() - started) / 1000;
    await pool.end();

    const rate = result.eventIdsDeleted / seconds;
    console.log(
      [
        `event ids: ${EXPIRED.toLocaleString('en')} expired + ${KEPT.toLocaleString('en')} kept (load ${loadS.toFixed(1)} s)`,
        `pruned: ${result.eventIdsDeleted.toLocaleString('en')} in ${seconds.toFixed(1)} s, batches of ${RETENTION_BATCH.toLocaleString('en')}`,
        `rate: ~${Math.round(rate).toLocaleString('en')} ids/s (~${((rate * 3600) / 1e6).toFixed(0)} M/hour)`,
        `design peak 1,000 events/s = 3.6 M ids/hour to prune in steady state; 10x = 36 M/hour`,
      ].join('\n'),
    );
  } finally {
    await pg.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
