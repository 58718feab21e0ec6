/**
 * A database of its own on a fresh PostgreSQL (TLS) for a migration-with-data test, and `step`, which
 * applies migrations one way or the other through migrate-step.ts (in a child process, as the admin,
 * without the migration command's roles and grants), so a test can stop at an older schema version.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { tlsOptions } from '../../../src/adapters/db';
import { startPostgres, tempDataDir, type PostgresServer } from '../../../src/local/servers';
import { REPO_ROOT } from '../../processor/support/stack';

const execFileAsync = promisify(execFile);

export interface MigrationDb {
  readonly pg: PostgresServer;
  /** Connected to the test's database as the admin. */
  readonly admin: Client;
  /** Applies `count` migrations up or down; resolves to the names applied, comma-separated. */
  step(direction: 'up' | 'down', count: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startMigrationDb(database: string): Promise<MigrationDb> {
  const pg = await startPostgres({ dataDir: tempDataDir(), tls: true });
  const connect = async (name: string): Promise<Client> => {
    const client = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: name, ssl: tlsOptions(pg.caFile) });
    await client.connect();
    return client;
  };
  const bootstrap = await connect('postgres');
  await bootstrap.query(`CREATE DATABASE ${database}`);
  await bootstrap.end();
  const admin = await connect(database);
  return {
    pg,
    admin,
    async step(direction, count) {
      const { stdout } = await execFileAsync(process.execPath, ['-r', 'ts-node/register/transpile-only', '__tests__/db/support/migrate-step.ts', direction, String(count)], {
        cwd: REPO_ROOT,
        env: { ...process.env, DB_HOST: pg.host, DB_PORT: String(pg.port), DB_NAME: database, DB_SSL_CA_FILE: pg.caFile, DB_ADMIN_USER: pg.adminUser, DB_ADMIN_PASSWORD: pg.adminPassword },
      });
      return stdout.trim();
    },
    async stop() {
      await admin.end();
      await pg.stop();
    },
  };
}
