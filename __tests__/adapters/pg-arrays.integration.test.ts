/** Array literals built by pg-arrays.ts read back in PostgreSQL as the values they were built from. */
import { rmSync } from 'node:fs';
import { Client } from 'pg';
import { byteaArray, textArray } from '../../src/adapters/pg-arrays';
import { tlsOptions } from '../../src/adapters/db';
import { startPostgres, tempDataDir, type PostgresServer } from '../../src/local/servers';

let pg: PostgresServer;
let client: Client;
let dataDir: string;

beforeAll(async () => {
  dataDir = tempDataDir();
  pg = await startPostgres({ dataDir, tls: true });
  client = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: 'postgres', ssl: tlsOptions(pg.caFile) });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('text elements with quotes, backslashes, commas, braces, spaces, NULL-like words and unicode round-trip; null is NULL', async () => {
  const values = ['plain', 'with "quotes"', 'back\\slash', 'a,b', '{braces}', ' spaced ', 'NULL', '', 'zrh-usz', 'Grüezi ✓', null];
  const { rows } = await client.query<{ v: (string | null)[] }>('SELECT $1::text[] AS v', [textArray(values)]);
  expect(rows[0]?.v).toEqual(values);
});

test('bytea elements round-trip byte for byte', async () => {
  const values = [Buffer.from([0, 1, 254, 255]), Buffer.alloc(0), Buffer.from('\\"', 'utf8'), null];
  const { rows } = await client.query<{ v: (Buffer | null)[] }>('SELECT $1::bytea[] AS v', [byteaArray(values)]);
  expect(rows[0]?.v).toEqual(values);
});
