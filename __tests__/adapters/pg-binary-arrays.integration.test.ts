/**
 * Binary array parameters built by pg-binary-arrays.ts, read by a real PostgreSQL (array_recv and the
 * element types' receive functions), come back as the values they were built from.
 */
import { rmSync } from 'node:fs';
import { Client } from 'pg';
import {
  CompositeArrayBuilder,
  boolArray,
  byteaArray,
  charArray,
  float4Array,
  float8Array,
  int2Array,
  int4Array,
  textArray,
  timestamptzArray,
  uuidArray,
} from '../../src/adapters/pg-binary-arrays';
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

/** The array as PostgreSQL prints it: what the server read, independent of pg's result parsers. */
async function asText(type: string, param: Buffer): Promise<string> {
  const { rows } = await client.query<{ v: string }>(`SELECT $1::${type}::text AS v`, [param]);
  return rows[0]?.v as string;
}

test('integers: int2 and int4 at their limits, negatives and nulls', async () => {
  expect(await asText('int2[]', int2Array([0, -1, 32767, -32768, null, 42]))).toBe('{0,-1,32767,-32768,NULL,42}');
  expect(await asText('int[]', int4Array([2147483647, -2147483648, undefined, 7]))).toBe('{2147483647,-2147483648,NULL,7}');
});

test('reals are the nearest float4, as a cast from the same double in PostgreSQL gives', async () => {
  const values = [36.6, 0.1, -40.25, 98, 1e-7, 3.4e38, null];
  const { rows } = await client.query<{ same: boolean }>(
    'SELECT $1::real[] IS NOT DISTINCT FROM $2::float8[]::real[] AS same',
    [float4Array(values), float8Array(values)],
  );
  expect(rows[0]?.same).toBe(true);
  expect(await asText('real[]', float4Array([36.6, null, -40.25]))).toBe('{36.6,NULL,-40.25}');
});

test('float8, bool and "char" elements round-trip', async () => {
  expect(await asText('float8[]', float8Array([1764572400123, -0.5, null]))).toBe('{1764572400123,-0.5,NULL}');
  expect(await asText('bool[]', boolArray([true, false, null]))).toBe('{t,f,NULL}');
  expect(await asText('"char"[]', charArray(['A', 'V', null, 'U']))).toBe('{A,V,NULL,U}');
});

test('timestamptz elements are the same instants to the millisecond, before and after 2000', async () => {
  const times = [new Date('2026-11-30T23:59:59.999Z'), new Date('2024-02-29T12:34:56.789Z'), new Date('1970-01-01T00:00:00.001Z'), new Date('1999-12-31T23:59:59.999Z'), new Date(Date.now())];
  const { rows } = await client.query<{ ms: string }>(
    'SELECT (extract(epoch FROM t) * 1000)::numeric(20,0)::text AS ms FROM unnest($1::timestamptz[]) WITH ORDINALITY AS u(t, n) ORDER BY n',
    [timestamptzArray(times)],
  );
  expect(rows.map((r) => Number(r.ms))).toEqual(times.map((d) => d.getTime()));
});

test('uuids in either case read back as the same canonical text', async () => {
  const ids = ['0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d', 'FFFFFFFF-0000-4000-8000-ABCDEFABCDEF', null];
  expect(await asText('uuid[]', uuidArray(ids))).toBe('{0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d,ffffffff-0000-4000-8000-abcdefabcdef,NULL}');
});

test('bytea and text elements round-trip byte for byte, empty and unicode included', async () => {
  const bytes = [Buffer.from([0, 1, 254, 255]), Buffer.alloc(0), Buffer.from('\\"', 'utf8'), null];
  const { rows } = await client.query<{ b: (Buffer | null)[]; t: (string | null)[] }>('SELECT $1::bytea[] AS b, $2::text[] AS t', [
    byteaArray(bytes),
    textArray(['zrh-usz', '', 'Grüezi ✓', 'with "quotes", {braces}', null]),
  ]);
  expect(rows[0]?.b).toEqual(bytes);
  expect(rows[0]?.t).toEqual(['zrh-usz', '', 'Grüezi ✓', 'with "quotes", {braces}', null]);
});

test('empty arrays are empty, and unnest of several of them yields no row', async () => {
  const { rows } = await client.query<{ n: number; e: string }>(
    'SELECT (SELECT count(*)::int FROM unnest($1::uuid[], $2::real[], $3::bytea[])) AS n, $2::real[]::text AS e',
    [uuidArray([]), float4Array([]), byteaArray([])],
  );
  expect(rows[0]).toEqual({ n: 0, e: '{}' });
});

test('unnest of binary arrays lines the columns up row by row', async () => {
  const { rows } = await client.query<{ e: string; v: number; k: number }>(
    'SELECT e::text, v, k FROM unnest($1::uuid[], $2::real[], $3::int[]) AS u(e, v, k)',
    [uuidArray(['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002']), float4Array([1.5, 2.5]), int4Array([10, 20])],
  );
  expect(rows).toEqual([
    { e: '00000000-0000-4000-8000-000000000001', v: 1.5, k: 10 },
    { e: '00000000-0000-4000-8000-000000000002', v: 2.5, k: 20 },
  ]);
});

test('an element PostgreSQL would misread is refused here, naming its position only', () => {
  expect(() => int2Array([1, 40000])).toThrow(/int2 array: element 1 is not an integer/);
  expect(() => int4Array([1.5])).toThrow(/int4 array: element 0/);
  expect(() => float4Array([1, Number.NaN])).toThrow(/float4 array: element 1 is not a finite real/);
  expect(() => float4Array([1e39])).toThrow(/float4 array: element 0/);
  expect(() => float8Array([Infinity])).toThrow(/float8 array: element 0/);
  expect(() => charArray(['AB'])).toThrow(/"char" array: element 0/);
  expect(() => uuidArray(['not-a-uuid-but-36-characters-long!!!'])).toThrow(/uuid array: element 0 is not a canonical UUID/);
  const good = '0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
  for (const bad of [good.replace('c4d', 'c4g'), good.replace('-4f50', '4f50-'), `${good.slice(0, 35)}é`, good.slice(1), `{${good.slice(1, 35)}}`, good.replace(/-/g, '')]) {
    expect(() => uuidArray([good, bad])).toThrow(/uuid array: element 1 is not a canonical UUID/);
  }
  expect(() => timestamptzArray([new Date(Number.NaN)])).toThrow(/timestamptz array: element 0 is not a valid Date/);
});

test('the element type is checked by the server: a real[] sent for an int[] parameter is an error, not a misread', async () => {
  await expect(client.query('SELECT $1::int[]', [float4Array([1])])).rejects.toThrow(/array element type 700 \(real\) instead of expected 23/);
});

describe('composite rows (CompositeArrayBuilder)', () => {
  const FIELDS = 'e uuid, t timestamptz, k int, v real, s smallint, o bool, c "char"';
  let oid: number;
  beforeAll(async () => {
    await client.query(`CREATE TYPE binary_row AS (${FIELDS})`);
    oid = Number((await client.query<{ oid: string }>(`SELECT 'binary_row'::regtype::oid::int8 AS oid`)).rows[0]?.oid);
  });

  test('rows come back field by field, nulls in any field included', async () => {
    const b = new CompositeArrayBuilder('binary_row', oid, 3, 7);
    b.row().uuid('0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d').timestamptz(new Date('2026-12-01T07:00:00.123Z')).int4(7).float4(36.6).int2(3).bool(true).char('A');
    b.row().uuid('FFFFFFFF-0000-4000-8000-ABCDEFABCDEF').timestamptz(new Date('1999-12-31T23:59:59.999Z')).int4(null).float4(undefined).int2(null).bool(null).char(null);
    const { rows } = await client.query(
      `SELECT e::text, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS t, k, v::text, s, o, c::text FROM unnest($1::binary_row[]) WITH ORDINALITY AS u(e, t, k, v, s, o, c, n) ORDER BY n`,
      [b.finish()],
    );
    expect(rows).toEqual([
      { e: '0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d', t: '2026-12-01T07:00:00.123', k: 7, v: '36.6', s: 3, o: true, c: 'A' },
      { e: 'ffffffff-0000-4000-8000-abcdefabcdef', t: '1999-12-31T23:59:59.999', k: null, v: null, s: null, o: null, c: null },
    ]);
  });

  test('no rows is an empty array', async () => {
    const { rows } = await client.query<{ n: number }>('SELECT cardinality($1::binary_row[]) AS n', [new CompositeArrayBuilder('binary_row', oid, 0, 7).finish()]);
    expect(rows[0]?.n).toBe(0);
  });

  test('a row with fields missing or extra, or a field before row(), is refused here', () => {
    const short = new CompositeArrayBuilder('binary_row', oid, 2, 7);
    short.row().uuid('0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d');
    expect(() => short.finish()).toThrow(/binary_row array: row 0 has 1 of the type's 7 fields/);
    const long = new CompositeArrayBuilder('binary_row', oid, 1, 1);
    expect(() => long.row().int4(1).int4(2)).toThrow(/more fields than the type's 1/);
    expect(() => new CompositeArrayBuilder('binary_row', oid, 1, 7).int4(1)).toThrow(/before row\(\)/);
    expect(() => new CompositeArrayBuilder('binary_row', oid, 1, 7).row().uuid('nope')).toThrow(/binary_row array: row 0 field 0 is not a canonical UUID/);
  });

  test('the server checks the row type, the field count and each field type: a mismatch is an error (42804), not a misread', async () => {
    const wrongType = new CompositeArrayBuilder('binary_row', 23, 1, 1);
    wrongType.row().int4(1);
    await expect(client.query('SELECT $1::binary_row[]', [wrongType.finish()])).rejects.toMatchObject({ code: '42804' });
    const fewer = new CompositeArrayBuilder('binary_row', oid, 1, 1);
    fewer.row().uuid('0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d');
    await expect(client.query('SELECT $1::binary_row[]', [fewer.finish()])).rejects.toMatchObject({ code: '42804' });
    const swapped = new CompositeArrayBuilder('binary_row', oid, 1, 7);
    swapped.row().timestamptz(new Date()).uuid('0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d').int4(1).float4(1).int2(1).bool(true).char('A');
    await expect(client.query('SELECT $1::binary_row[]', [swapped.finish()])).rejects.toMatchObject({ code: '42804' });
  });
});
