/**
 * One-dimensional PostgreSQL array parameters in the binary wire format, for the writer's per-batch
 * `unnest($1::real[], ...)` statements. node-postgres sends a Buffer parameter as binary (format code
 * 1), and PostgreSQL reads it with array_recv and each element type's receive function: no decimal
 * text to format here (String(number) is a shortest-round-trip conversion per element) and none to
 * parse there (array_in scans the literal, then float4in/int2in/uuid_in per element). pg-arrays.ts
 * keeps the text literals for the statements that run once per new patient or source.
 *
 * Layout (src/backend/utils/adt/arrayfuncs.c, array_send): int32 ndim, int32 has-nulls flag, int32
 * element type OID (must be the parameter's element type, else an error), per dimension
 * int32 length and int32 lower bound (1); then per element int32 byte length (-1: NULL) and the
 * element's bytes in network order. An empty array is ndim 0 with no dimension.
 */

/** Element type OIDs (pg_type.oid, fixed in the catalog since PostgreSQL 8.x). */
export const ELEMENT_OID = { bool: 16, bytea: 17, char: 18, int2: 21, int4: 23, text: 25, float4: 700, float8: 701, timestamptz: 1184, uuid: 2950 } as const;

/** Milliseconds between the Unix epoch and PostgreSQL's (2000-01-01T00:00:00Z). */
const PG_EPOCH_OFFSET_MS = 946_684_800_000;

type Nullable<T> = T | null | undefined;

/** Header and, per element, the length word; `width` bytes per non-null element written by `put`. */
function fixedWidth<T>(oid: number, width: number, values: readonly Nullable<T>[], put: (buf: Buffer, at: number, v: T, i: number) => void): Buffer {
  let nulls = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === null || values[i] === undefined) nulls++;
  const buf = Buffer.allocUnsafe(header(values.length) + values.length * 4 + (values.length - nulls) * width);
  let at = writeHeader(buf, oid, values.length, nulls > 0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      at = buf.writeInt32BE(-1, at);
      continue;
    }
    at = buf.writeInt32BE(width, at);
    put(buf, at, v, i);
    at += width;
  }
  return buf;
}

const header = (n: number): number => (n === 0 ? 12 : 20);

function writeHeader(buf: Buffer, oid: number, n: number, hasNulls: boolean): number {
  let at = buf.writeInt32BE(n === 0 ? 0 : 1, 0);
  at = buf.writeInt32BE(hasNulls ? 1 : 0, at);
  at = buf.writeUInt32BE(oid, at);
  if (n === 0) return at;
  at = buf.writeInt32BE(n, at);
  return buf.writeInt32BE(1, at);
}

function integer(v: number, i: number, min: number, max: number, type: string): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${type} array: element ${i} is not an integer in [${min}, ${max}]`);
  return v;
}

export const int2Array = (values: readonly Nullable<number>[]): Buffer =>
  fixedWidth(ELEMENT_OID.int2, 2, values, (b, at, v, i) => b.writeInt16BE(integer(v, i, -32768, 32767, 'int2'), at));

export const int4Array = (values: readonly Nullable<number>[]): Buffer =>
  fixedWidth(ELEMENT_OID.int4, 4, values, (b, at, v, i) => b.writeInt32BE(integer(v, i, -2147483648, 2147483647, 'int4'), at));

/** real[]: each double rounded to the nearest float4, as PostgreSQL rounds a cast from float8. */
export const float4Array = (values: readonly Nullable<number>[]): Buffer =>
  fixedWidth(ELEMENT_OID.float4, 4, values, (b, at, v, i) => {
    if (!Number.isFinite(v) || Math.abs(Math.fround(v)) === Infinity) throw new RangeError(`float4 array: element ${i} is not a finite real`);
    b.writeFloatBE(v, at);
  });

export const float8Array = (values: readonly Nullable<number>[]): Buffer =>
  fixedWidth(ELEMENT_OID.float8, 8, values, (b, at, v, i) => {
    if (!Number.isFinite(v)) throw new RangeError(`float8 array: element ${i} is not a finite number`);
    b.writeDoubleBE(v, at);
  });

export const boolArray = (values: readonly Nullable<boolean>[]): Buffer =>
  fixedWidth(ELEMENT_OID.bool, 1, values, (b, at, v) => b.writeUInt8(v ? 1 : 0, at));

/** "char"[] (the one-byte type): one ASCII character per element. */
export const charArray = (values: readonly Nullable<string>[]): Buffer =>
  fixedWidth(ELEMENT_OID.char, 1, values, (b, at, v, i) => {
    const code = v.length === 1 ? v.charCodeAt(0) : -1;
    if (code < 1 || code > 127) throw new RangeError(`"char" array: element ${i} is not one ASCII character`);
    b.writeUInt8(code, at);
  });

/**
 * timestamptz[] from Dates (integer microseconds since 2000-01-01 UTC, the server's representation
 * since PostgreSQL 10): exact to the millisecond a Date holds, with no to_timestamp() per row.
 */
export const timestamptzArray = (values: readonly Nullable<Date>[]): Buffer =>
  fixedWidth(ELEMENT_OID.timestamptz, 8, values, (b, at, v, i) => {
    const ms = v.getTime();
    if (!Number.isFinite(ms)) throw new RangeError(`timestamptz array: element ${i} is an invalid Date`);
    // Exact in a double (|µs| < 2^53 for any year a Date reaches up to the year 2285), split into two words.
    const us = (ms - PG_EPOCH_OFFSET_MS) * 1000;
    if (!Number.isSafeInteger(us)) throw new RangeError(`timestamptz array: element ${i} is out of range`);
    const high = Math.floor(us / 0x1_0000_0000);
    b.writeInt32BE(high, at);
    b.writeUInt32BE(us - high * 0x1_0000_0000, at + 4);
  });

/** Hex digit values by character code (-1: not a hex digit). */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX_VALUE[48 + c] = c;
for (let c = 0; c < 6; c++) HEX_VALUE[65 + c] = HEX_VALUE[97 + c] = 10 + c;
const DASHES = [8, 13, 18, 23];

/** The 16 bytes of a canonical 8-4-4-4-12 UUID (either case) into b at `at`; false if it is not one. */
function putUuid(b: Buffer, at: number, v: string): boolean {
  if (v.length !== 36) return false;
  for (const d of DASHES) if (v.charCodeAt(d) !== 45) return false;
  let i = 0;
  for (let n = 0; n < 16; n++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) i++;
    const hi = v.charCodeAt(i);
    const lo = v.charCodeAt(i + 1);
    const h = hi < 128 ? (HEX_VALUE[hi] as number) : -1;
    const l = lo < 128 ? (HEX_VALUE[lo] as number) : -1;
    if (h < 0 || l < 0) return false;
    b[at + n] = (h << 4) | l;
    i += 2;
  }
  return true;
}

/** uuid[] from canonical 8-4-4-4-12 hex strings (either case); anything else is refused. */
export const uuidArray = (values: readonly Nullable<string>[]): Buffer =>
  fixedWidth(ELEMENT_OID.uuid, 16, values, (b, at, v, i) => {
    if (!putUuid(b, at, v)) throw new RangeError(`uuid array: element ${i} is not a canonical UUID`);
  });

/** Variable-width elements: bytea's raw bytes, text's UTF-8. */
function variableWidth(oid: number, values: readonly Nullable<Uint8Array>[]): Buffer {
  let size = header(values.length) + values.length * 4;
  let hasNulls = false;
  for (const v of values) {
    if (v === null || v === undefined) hasNulls = true;
    else size += v.byteLength;
  }
  const buf = Buffer.allocUnsafe(size);
  let at = writeHeader(buf, oid, values.length, hasNulls);
  for (const v of values) {
    if (v === null || v === undefined) {
      at = buf.writeInt32BE(-1, at);
      continue;
    }
    at = buf.writeInt32BE(v.byteLength, at);
    buf.set(v, at);
    at += v.byteLength;
  }
  return buf;
}

export const byteaArray = (values: readonly Nullable<Uint8Array>[]): Buffer => variableWidth(ELEMENT_OID.bytea, values);

export const textArray = (values: readonly Nullable<string>[]): Buffer =>
  variableWidth(
    ELEMENT_OID.text,
    values.map((v) => (v === null || v === undefined ? null : Buffer.from(v, 'utf8'))),
  );
