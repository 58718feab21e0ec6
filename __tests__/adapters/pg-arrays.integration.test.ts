/** Array literals built by pg-arrays.ts read back in PostgreSQL as the values they were built from. */
import { rmSync } from 'node:fs';
import { Client } from 'pg';
import { boolArray, byteaArray, epochMsArray, numberArray, textArray, timestampArray } from '../../src/adapters/pg-arrays';
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

test('numbers, booleans and timestamps round-trip, nulls included', async () => {
  const numbers = [0, -1.5, 36.6, 1e-7, 123456789.125, null];
  const bools = [true, false, null];
  const times = [new Date('2026-12-01T07:00:00.123Z'), null, new Date(0)];
  const { rows } = await client.query<{ n: (number | null)[]; b: (boolean | null)[]; t: (Date | null)[] }>(
    'SELECT $1::float8[] AS n, $2::bool[] AS b, $3::timestamptz[] AS t',
    [numberArray(numbers), boolArray(bools), timestampArray(times)],
  );
  expect(rows[0]?.n).toEqual(numbers);
  expect(rows[0]?.b).toEqual(bools);
  expect(rows[0]?.t).toEqual(times);
});

test('dates as epoch milliseconds become the same timestamptz through to_timestamp(ms / 1000), to the millisecond', async () => {
  const times = [new Date('2026-11-30T23:59:59.999Z'), new Date('2024-02-29T12:34:56.789Z'), new Date('1970-01-01T00:00:00.001Z'), new Date(Date.now())];
  const { rows } = await client.query<{ t: Date }>('SELECT to_timestamp(ms / 1000) AS t FROM unnest($1::float8[]) WITH ORDINALITY AS u(ms, n) ORDER BY n', [epochMsArray(times)]);
  expect(rows.map((r) => r.t.toISOString())).toEqual(times.map((d) => d.toISOString()));
});

test('bytea elements round-trip byte for byte', async () => {
  const values = [Buffer.from([0, 1, 254, 255]), Buffer.alloc(0), Buffer.from('\\"', 'utf8'), null];
  const { rows } = await client.query<{ v: (Buffer | null)[] }>('SELECT $1::bytea[] AS v', [byteaArray(values)]);
  expect(rows[0]?.v).toEqual(values);
});

test('a non-finite number is refused instead of being written as text PostgreSQL would misread', () => {
  expect(() => numberArray([1, Number.NaN])).toThrow(/element 1 is not a finite number/);
});
