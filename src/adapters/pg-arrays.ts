/**
 * PostgreSQL array parameters as one text literal each (`{a,b,"c d"}`), for `unnest($1::uuid[], ...)`
 * inserts. node-postgres converts a JS array parameter element by element (prepareValue per element,
 * escaping, string concatenation); building the literal directly is one pass per column. The
 * per-batch statements go further and send binary arrays (pg-binary-arrays.ts); these literals serve
 * the statements that run once per new patient or source.
 * Grammar: https://www.postgresql.org/docs/current/arrays.html#ARRAYS-IO (elements double-quoted,
 * `"` and `\` backslash-escaped, unquoted NULL for null).
 */

const quote = (s: string): string => `"${s.replace(/[\\"]/g, '\\$&')}"`;

/** text[] (any text-like type: text, char, uuid from untrusted input). */
export function textArray(values: readonly (string | null | undefined)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out += (i > 0 ? ',' : '') + (v === null || v === undefined ? 'NULL' : quote(v));
  }
  return `${out}}`;
}

/** bytea[] in hex format: each element `"\\x<hex>"` (the backslash escaped inside the quotes). */
export function byteaArray(values: readonly (Uint8Array | null | undefined)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out += (i > 0 ? ',' : '') + (v === null || v === undefined ? 'NULL' : `"\\\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}"`);
  }
  return `${out}}`;
}
