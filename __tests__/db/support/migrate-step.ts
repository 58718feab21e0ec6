/**
 * Test helper (run in a child process under ts-node): applies `count` migrations in `direction`
 * against DB_* as the admin, without the migration command's roles, grants and partitions, so a test
 * can stop at an older schema version (up 7: the 0007 shape) or step back (down 1).
 *   node -r ts-node/register/transpile-only __tests__/db/support/migrate-step.ts up 7
 */
import { join } from 'node:path';
import { Client } from 'pg';
import type { RunnerOption } from 'node-pg-migrate/dist/bundle/index';
import { tlsOptions } from '../../../src/adapters/db';

async function main(): Promise<void> {
  const [direction, count] = [process.argv[2] as 'up' | 'down', Number(process.argv[3])];
  const env = process.env;
  const client = new Client({
    host: env.DB_HOST,
    port: Number(env.DB_PORT),
    database: env.DB_NAME,
    user: env.DB_ADMIN_USER,
    password: env.DB_ADMIN_PASSWORD,
    ssl: tlsOptions(env.DB_SSL_CA_FILE as string),
  });
  await client.connect();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runner } = require('node-pg-migrate') as { runner: (options: RunnerOption) => Promise<Array<{ name: string }>> };
    const applied = await runner({
      dbClient: client,
      dir: join(__dirname, '..', '..', '..', 'src', 'db', 'migrations'),
      ignorePattern: '\\..*|.*\\.map|.*\\.d\\.ts',
      direction,
      count,
      migrationsTable: 'pgmigrations',
      singleTransaction: true,
      checkOrder: true,
      log: () => undefined,
    } as RunnerOption);
    process.stdout.write(`${applied.map((m) => m.name).join(',')}\n`);
  } finally {
    await client.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
