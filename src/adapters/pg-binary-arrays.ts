/**
 * One-dimensional PostgreSQL array parameters in the binary wire format, for the writer's per-batch
 * statements. node-postgres sends a Buffer parameter as binary (format code 1), and PostgreSQL reads
 * it with array_recv and each element type's receive function: no decimal text to format here
 * (String(number) is a shortest-round-trip conversion per element) and none to parse there (array_in
 * scans the literal, then float4in/int2in/uuid_in per element). pg-arrays.ts keeps the text literals
 * for the statements that run once per new patient or source.
 *
 * Layout (src/backend/utils/adt/arrayfuncs.c, array_send): int32 ndim, int32 has-nulls flag, int32
 * element type OID (must be the parameter's element type, else an error), per dimension int32 length
 * and int32 lower bound (1); then per element int32 byte length (-1: NULL) and the element's bytes in
 * network order. An empty array is ndim 0 with no dimension. A composite element (record_send,
 * rowtypes.c) is int32 field count, then per field its type OID, int32 length (-1: NULL) and bytes.
 */

/** Element type OIDs (pg_type.oid, fixed in the catalog since PostgreSQL 8.x). */
export const ELEMENT_OID = { bool: 16, bytea: 17, char: 18, int2: 21, int4: 23, text: 25, float4: 700, float8: 701, timestamptz: 1184, uuid: 2950 } as const;

/** Milliseconds between the Unix epoch and PostgreSQL's (2000-01-01T00:00:00Z). */
const PG_EPOCH_OFFSET_MS = 946_684_800_000;

type Nullable<T> = T | null | undefined;

/** A fixed-width element type: its OID, byte width, and a writer that returns false for a value it cannot represent. */
interface FixedElement<T> {
  readonly name: string;
  readonly oid: number;
  readonly width: number;
  /** What a valid value is, for the error message (never the value: it may be clinical data). */
  readonly expected: string;
  put(b: Buffer, at: number, v: T): boolean;
}

const isIntIn = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;

const INT2: FixedElement<number> = {
  name: 'int2',
  oid: ELEMENT_OID.int2,
  width: 2,
  expected: 'an integer in [-32768, 32767]',
  put: (b, at, v) => isIntIn(v, -32768, 32767) && b.writeInt16BE(v, at) > 0,
};
const INT4: FixedElement<number> = {
  name: 'int4',
  oid: ELEMENT_OID.int4,
  width: 4,
  expected: 'an integer in [-2147483648, 2147483647]',
  put: (b, at, v) => isIntIn(v, -2147483648, 2147483647) && b.writeInt32BE(v, at) > 0,
};
/** real: the double rounded to the nearest float4, as PostgreSQL rounds a cast from float8. */
const FLOAT4: FixedElement<number> = {
  name: 'float4',
  oid: ELEMENT_OID.float4,
  width: 4,
  expected: 'a finite real',
  put: (b, at, v) => Number.isFinite(v) && Number.isFinite(Math.fround(v)) && b.writeFloatBE(v, at) > 0,
};
const FLOAT8: FixedElement<number> = {
  name: 'float8',
  oid: ELEMENT_OID.float8,
  width: 8,
  expected: 'a finite number',
  put: (b, at, v) => Number.isFinite(v) && b.writeDoubleBE(v, at) > 0,
};
const BOOL: FixedElement<boolean> = { name: 'bool', oid: ELEMENT_OID.bool, width: 1, expected: 'a boolean', put: (b, at, v) => b.writeUInt8(v ? 1 : 0, at) > 0 };
/** "char" (the one-byte type): one ASCII character. */
const CHAR: FixedElement<string> = {
  name: '"char"',
  oid: ELEMENT_OID.char,
  width: 1,
  expected: 'one ASCII character',
  put: (b, at, v) => {
    const code = v.length === 1 ? v.charCodeAt(0) : -1;
    return code >= 1 && code <= 127 && b.writeUInt8(code, at) > 0;
  },
};
/**
 * timestamptz from a Date: integer microseconds since 2000-01-01 UTC (the server's representation
 * since PostgreSQL 10), exact to the millisecond a Date holds, with no to_timestamp() per row. Exact
 * in a double (|µs| < 2^53 up to the year 2285), written as two words.
 */
const TIMESTAMPTZ: FixedElement<Date> = {
  name: 'timestamptz',
  oid: ELEMENT_OID.timestamptz,
  width: 8,
  expected: 'a valid Date',
  put: (b, at, v) => {
    const us = (v.getTime() - PG_EPOCH_OFFSET_MS) * 1000;
    if (!Number.isSafeInteger(us)) return false;
    const high = Math.floor(us / 0x1_0000_0000);
    b.writeInt32BE(high, at);
    b.writeUInt32BE(us - high * 0x1_0000_0000, at + 4);
    return true;
  },
};

/** Hex digit values by character code (-1: not a hex digit). */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX_VALUE[48 + c] = c;
for (let c = 0; c < 6; c++) HEX_VALUE[65 + c] = HEX_VALUE[97 + c] = 10 + c;

/** uuid from a canonical 8-4-4-4-12 hex string (either case), parsed by table: no regex, no hex decode per group. */
const UUID: FixedElement<string> = {
  name: 'uuid',
  oid: ELEMENT_OID.uuid,
  width: 16,
  expected: 'a canonical UUID',
  put: (b, at, v) => {
    if (v.length !== 36 || v.charCodeAt(8) !== 45 || v.charCodeAt(13) !== 45 || v.charCodeAt(18) !== 45 || v.charCodeAt(23) !== 45) return false;
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
  },
};

const ARRAY_HEADER = 20;

function writeHeader(buf: Buffer, oid: number, n: number, hasNulls: boolean): number {
  let at = buf.writeInt32BE(n === 0 ? 0 : 1, 0);
  at = buf.writeInt32BE(hasNulls ? 1 : 0, at);
  at = buf.writeUInt32BE(oid, at);
  if (n === 0) return at;
  at = buf.writeInt32BE(n, at);
  return buf.writeInt32BE(1, at);
}

/** An array of a fixed-width type: the header, then per element the length word and `width` bytes. */
function fixedWidth<T>(element: FixedElement<T>, values: readonly Nullable<T>[]): Buffer {
  let nulls = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === null || values[i] === undefined) nulls++;
  const buf = Buffer.allocUnsafe(ARRAY_HEADER + values.length * 4 + (values.length - nulls) * element.width);
  let at = writeHeader(buf, element.oid, values.length, nulls > 0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      at = buf.writeInt32BE(-1, at);
      continue;
    }
    at = buf.writeInt32BE(element.width, at);
    if (!element.put(buf, at, v)) throw new RangeError(`${element.name} array: element ${i} is not ${element.expected}`);
    at += element.width;
  }
  return buf.subarray(0, at);
}

export const int2Array = (values: readonly Nullable<number>[]): Buffer => fixedWidth(INT2, values);
export const int4Array = (values: readonly Nullable<number>[]): Buffer => fixedWidth(INT4, values);
export const float4Array = (values: readonly Nullable<number>[]): Buffer => fixedWidth(FLOAT4, values);
export const float8Array = (values: readonly Nullable<number>[]): Buffer => fixedWidth(FLOAT8, values);
export const boolArray = (values: readonly Nullable<boolean>[]): Buffer => fixedWidth(BOOL, values);
export const charArray = (values: readonly Nullable<string>[]): Buffer => fixedWidth(CHAR, values);
export const timestamptzArray = (values: readonly Nullable<Date>[]): Buffer => fixedWidth(TIMESTAMPTZ, values);
export const uuidArray = (values: readonly Nullable<string>[]): Buffer => fixedWidth(UUID, values);

/** Variable-width elements: bytea's raw bytes, text's UTF-8. */
function variableWidth(oid: number, values: readonly Nullable<Uint8Array>[]): Buffer {
  let size = ARRAY_HEADER + values.length * 4;
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
  return buf.subarray(0, at);
}

export const byteaArray = (values: readonly Nullable<Uint8Array>[]): Buffer => variableWidth(ELEMENT_OID.bytea, values);

export const textArray = (values: readonly Nullable<string>[]): Buffer =>
  variableWidth(
    ELEMENT_OID.text,
    values.map((v) => (v === null || v === undefined ? null : Buffer.from(v, 'utf8'))),
  );

/**
 * A binary array of a composite type's rows (`unnest($1::my_type[])` yields its fields as columns),
 * built field by field with no intermediate column arrays: `row()`, then one typed call per field in
 * the type's order, then `finish()`. The type's OID is the caller's (a user-defined type has no fixed
 * OID: look it up with `'my_type'::regtype::oid`); PostgreSQL checks it, each field's type and the
 * field count, and refuses a mismatch (datatype_mismatch) rather than misreading it.
 */
export class CompositeArrayBuilder {
  private readonly buf: Buffer;
  private at = ARRAY_HEADER;
  private rowAt = -1;
  private rows = 0;
  private fields = 0;

  /** @param maxRows rows that will be added at most; @param fieldsPerRow the type's field count */
  constructor(
    private readonly typeName: string,
    private readonly typeOid: number,
    maxRows: number,
    private readonly fieldsPerRow: number,
  ) {
    // Per row: its length word and field count, per field an OID and length word and at most 16 bytes (uuid).
    this.buf = Buffer.allocUnsafe(ARRAY_HEADER + maxRows * (8 + fieldsPerRow * (8 + 16)));
  }

  row(): this {
    this.endRow();
    this.rowAt = this.at;
    this.at += 8;
    this.fields = 0;
    this.rows++;
    return this;
  }

  int2 = (v: Nullable<number>): this => this.field(INT2, v);
  int4 = (v: Nullable<number>): this => this.field(INT4, v);
  float4 = (v: Nullable<number>): this => this.field(FLOAT4, v);
  bool = (v: Nullable<boolean>): this => this.field(BOOL, v);
  char = (v: Nullable<string>): this => this.field(CHAR, v);
  timestamptz = (v: Nullable<Date>): this => this.field(TIMESTAMPTZ, v);
  uuid = (v: Nullable<string>): this => this.field(UUID, v);

  /** The array: exactly the bytes written (a view of the builder's buffer). */
  finish(): Buffer {
    this.endRow();
    if (this.rows === 0) return this.buf.subarray(0, writeHeader(this.buf, this.typeOid, 0, false));
    writeHeader(this.buf, this.typeOid, this.rows, false);
    return this.buf.subarray(0, this.at);
  }

  private field<T>(element: FixedElement<T>, v: Nullable<T>): this {
    const b = this.buf;
    if (this.rowAt < 0 || this.fields === this.fieldsPerRow) throw new RangeError(`${this.typeName} array: more fields than the type's ${this.fieldsPerRow}, or a field before row()`);
    this.fields++;
    let at = b.writeUInt32BE(element.oid, this.at);
    if (v === null || v === undefined) {
      this.at = b.writeInt32BE(-1, at);
      return this;
    }
    at = b.writeInt32BE(element.width, at);
    if (!element.put(b, at, v)) throw new RangeError(`${this.typeName} array: row ${this.rows - 1} field ${this.fields - 1} is not ${element.expected}`);
    this.at = at + element.width;
    return this;
  }

  private endRow(): void {
    if (this.rowAt < 0) return;
    if (this.fields !== this.fieldsPerRow) throw new RangeError(`${this.typeName} array: row ${this.rows - 1} has ${this.fields} of the type's ${this.fieldsPerRow} fields`);
    this.buf.writeInt32BE(this.at - this.rowAt - 4, this.rowAt);
    this.buf.writeInt32BE(this.fieldsPerRow, this.rowAt + 4);
    this.rowAt = -1;
  }
}
