/**
 * Reconnecting after the database went away, against a real PostgreSQL (TLS): each new connection
 * resolves the host name again (an Aurora failover moves the writer's DNS name), and an IAM token
 * the server refuses is dropped so the next connection signs a new one.
 */
import dns from 'node:dns';
import type { Pool } from 'pg';
import { createPool, type DbSettings } from '../../src/adapters/db';
import { startPostgres, tempDataDir, type PostgresServer } from '../../src/local/servers';
import { adminClient } from '../processor/support/stack';

let pg: PostgresServer;
const pools: Pool[] = [];

beforeAll(async () => {
  pg = await startPostgres({ dataDir: tempDataDir(), tls: true });
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await pg?.stop();
});

function settings(): DbSettings {
  // `localhost`, not an address: name resolution is what is under test (the certificate names it too).
  return { host: 'localhost', port: pg.port, database: 'postgres', user: pg.adminUser, sslCaFile: pg.caFile, auth: { kind: 'iam', region: 'eu-central-2' } };
}

test('every reconnect resolves the database host name again', async () => {
  const pool = createPool(settings(), { getAuthToken: async () => pg.adminPassword });
  pools.push(pool);
  pool.on('error', () => undefined); // the idle connection terminated below
  const lookups: string[] = [];
  const original = dns.lookup;
  const spy = jest.spyOn(dns, 'lookup').mockImplementation(((host: string, ...rest: unknown[]) => {
    lookups.push(host);
    return (original as (...a: unknown[]) => void).call(dns, host, ...rest);
  }) as typeof dns.lookup);
  try {
    await pool.query('SELECT 1');
    const admin = await adminClient(pg);
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'vitals-processor'");
    await admin.end();
    // The pool drops the terminated connection (its idle error handler), so the next query connects anew.
    for (let i = 0; i < 100 && pool.totalCount > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pool.totalCount).toBe(0);
    await pool.query('SELECT 1');
  } finally {
    spy.mockRestore();
  }
  expect(lookups.filter((h) => h === 'localhost').length).toBeGreaterThanOrEqual(2);
});

test('an IAM token the server refuses is dropped: the next connection signs a new one', async () => {
  const tokens = ['refused-token', pg.adminPassword];
  let issued = 0;
  const pool = createPool(settings(), { getAuthToken: async () => tokens[Math.min(issued++, tokens.length - 1)] as string });
  pools.push(pool);
  await expect(pool.query('SELECT 1')).rejects.toMatchObject({ code: '28P01' });
  await expect(pool.query('SELECT 1 AS ok')).resolves.toMatchObject({ rows: [{ ok: 1 }] });
  expect(issued).toBe(2);
});
