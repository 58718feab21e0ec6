/**
 * The FHIR search parameters of `GET /fhir/Observation` (pure): parsed and checked once, every
 * problem reported at once (as an OperationOutcome by the caller). Supported:
 *
 * - `patient` / `subject` (required): `Patient/<pseudonym>` or the bare 64-hex pseudonym;
 * - `date` (repeatable, ANDed): prefixes eq (default), gt, ge, lt, le, sa, eb on a FHIR date or
 *   dateTime of any precision (a date means its whole day, UTC; a time without offset is UTC);
 * - `code` (comma = OR): `system|code` or `code` tokens for the LOINC / SNOMED CT codes rendered;
 * - `category`: vital-signs or survey;
 * - `_count` (1..500, default 50), `_sort` (`-date` default, or `date`), `_cursor` (next-page token),
 *   `_format` (json only).
 *
 * Unknown parameters are refused (400), not ignored: a client filtering on something the server
 * ignores would show a patient's data it did not ask for.
 */
import { KINDS, OBSERVATION_KINDS, type ObservationKind } from './observations';

export interface DateBound {
  /** Inclusive lower bound (ms since epoch), if any. */
  readonly from?: number;
  /** Exclusive upper bound, if any. */
  readonly before?: number;
}

export interface Cursor {
  /** The row's observed_at as the database wrote it (microsecond text, UTC). */
  readonly time: string;
  readonly eventId: string;
  /** Index into OBSERVATION_KINDS of the first resource of that row on the next page. */
  readonly kind: number;
}

export interface ObservationSearch {
  readonly patientPseudonym: string;
  readonly dates: readonly DateBound[];
  /** Kinds the search may return (all when no code/category filter). */
  readonly kinds: readonly ObservationKind[];
  readonly count: number;
  readonly order: 'desc' | 'asc';
  readonly cursor?: Cursor;
}

export type SearchParse = { ok: true; search: ObservationSearch } | { ok: false; problems: string[] };

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 500;
const PSEUDONYM = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FHIR_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const SUPPORTED = new Set(['patient', 'subject', 'date', 'code', 'category', '_count', '_sort', '_cursor', '_format']);

export type QueryValues = Readonly<Record<string, string | readonly string[] | undefined>>;

function values(query: QueryValues, name: string): string[] {
  const v = query[name];
  return v === undefined ? [] : Array.isArray(v) ? [...(v as readonly string[])] : [v as string];
}

/** A FHIR date/dateTime of any precision as the half-open instant range it denotes. */
export function dateRange(text: string): { start: number; end: number } | undefined {
  const m = FHIR_DATE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  if (mo === undefined) return { start: Date.UTC(year, 0, 1), end: Date.UTC(year + 1, 0, 1) };
  const month = Number(mo) - 1;
  if (month < 0 || month > 11) return undefined;
  if (d === undefined) return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
  const day = Number(d);
  if (day < 1 || day > new Date(Date.UTC(year, month + 1, 0)).getUTCDate()) return undefined;
  if (h === undefined) return { start: Date.UTC(year, month, day), end: Date.UTC(year, month, day + 1) };
  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMin = 0;
  if (tz && tz !== 'Z') {
    offsetMin = (tz.startsWith('-') ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  }
  const ms = frac === undefined ? 0 : Number(frac.padEnd(3, '0').slice(0, 3));
  const start = Date.UTC(year, month, day, hour, minute, second, ms) - offsetMin * 60_000;
  // The precision given decides the width: to the minute, the second, or the millisecond.
  const width = s === undefined ? 60_000 : frac === undefined ? 1_000 : 1;
  return { start, end: start + width };
}

const PREFIXES = ['eq', 'gt', 'ge', 'lt', 'le', 'sa', 'eb'] as const;

function dateBound(raw: string): DateBound | string {
  const prefix = PREFIXES.find((p) => raw.startsWith(p)) ?? (/^[a-z]{2}/.test(raw) ? raw.slice(0, 2) : 'eq');
  if (!(PREFIXES as readonly string[]).includes(prefix)) return `date prefix ${JSON.stringify(prefix)} is not supported (use eq, gt, ge, lt, le, sa or eb)`;
  const text = /^[a-z]{2}/.test(raw) ? raw.slice(2) : raw;
  const r = dateRange(text);
  if (!r) return `date must be a FHIR date or dateTime (e.g. 2026-03-01 or 2026-03-01T10:00:00Z); received ${JSON.stringify(text)}`;
  switch (prefix) {
    case 'eq':
      return { from: r.start, before: r.end };
    case 'gt':
    case 'sa':
      return { from: r.end };
    case 'ge':
      return { from: r.start };
    case 'lt':
    case 'eb':
      return { before: r.start };
    default: // le
      return { before: r.end };
  }
}

function kindsForCodes(tokens: readonly string[]): ObservationKind[] {
  return OBSERVATION_KINDS.filter((k) =>
    tokens.some((t) => {
      const [system, code] = t.includes('|') ? (t.split('|', 2) as [string, string]) : [undefined, t];
      return KINDS[k].codes.some((c) => {
        const [cs, cc] = c.split('|') as [string, string];
        return cc === code && (system === undefined || system === '' || system === cs);
      });
    }),
  );
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.time, c.eventId, c.kind])).toString('base64url');
}

export function decodeCursor(token: string): Cursor | undefined {
  try {
    const [time, eventId, kind] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as [unknown, unknown, unknown];
    if (typeof time !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/.test(time)) return undefined;
    if (typeof eventId !== 'string' || !UUID.test(eventId)) return undefined;
    if (typeof kind !== 'number' || !Number.isInteger(kind) || kind < 0 || kind >= OBSERVATION_KINDS.length) return undefined;
    return { time, eventId, kind };
  } catch {
    return undefined;
  }
}

export function parseObservationSearch(query: QueryValues): SearchParse {
  const problems: string[] = [];
  for (const name of Object.keys(query)) {
    if (!SUPPORTED.has(name)) problems.push(`search parameter ${JSON.stringify(name)} is not supported (supported: ${[...SUPPORTED].join(', ')})`);
  }
  const refs = [...values(query, 'patient'), ...values(query, 'subject')];
  let patientPseudonym = '';
  if (refs.length === 0) problems.push('patient is required: patient=Patient/<pseudonym> (64 hex digits)');
  else if (new Set(refs.map((r) => r.replace(/^Patient\//, '').toLowerCase())).size > 1) problems.push('patient and subject must name one patient');
  else {
    const id = (refs[0] as string).replace(/^Patient\//, '').toLowerCase();
    if (!PSEUDONYM.test(id)) problems.push('patient must be Patient/<pseudonym>, the pseudonym being 64 hex digits');
    else patientPseudonym = id;
  }
  const dates: DateBound[] = [];
  for (const d of values(query, 'date')) {
    const b = dateBound(d);
    if (typeof b === 'string') problems.push(b);
    else dates.push(b);
  }
  let kinds: ObservationKind[] = [...OBSERVATION_KINDS];
  const codes = values(query, 'code').flatMap((c) => c.split(',')).filter(Boolean);
  if (codes.length > 0) kinds = kindsForCodes(codes);
  const categories = values(query, 'category').flatMap((c) => c.split(',')).map((c) => c.split('|').pop() ?? '');
  if (categories.length > 0) {
    const unknown = categories.filter((c) => c !== 'vital-signs' && c !== 'survey');
    if (unknown.length > 0) problems.push(`category must be vital-signs or survey; received ${JSON.stringify(unknown.join(','))}`);
    kinds = kinds.filter((k) => categories.includes(KINDS[k].category));
  }
  let count = DEFAULT_COUNT;
  const countRaw = values(query, '_count');
  if (countRaw.length > 0) {
    const n = Number(countRaw[0]);
    if (!Number.isInteger(n) || n < 1 || n > MAX_COUNT) problems.push(`_count must be an integer 1..${MAX_COUNT}; received ${JSON.stringify(countRaw[0])}`);
    else count = n;
  }
  const sort = values(query, '_sort')[0] ?? '-date';
  if (sort !== '-date' && sort !== 'date') problems.push(`_sort must be date or -date; received ${JSON.stringify(sort)}`);
  const format = values(query, '_format')[0];
  if (format !== undefined && !['json', 'application/json', 'application/fhir+json'].includes(format)) {
    problems.push(`_format must be json (this server answers application/fhir+json only); received ${JSON.stringify(format)}`);
  }
  const cursorRaw = values(query, '_cursor')[0];
  const cursor = cursorRaw === undefined ? undefined : decodeCursor(cursorRaw);
  if (cursorRaw !== undefined && !cursor) problems.push('_cursor is not a page token this server issued');
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, search: { patientPseudonym, dates, kinds, count, order: sort === 'date' ? 'asc' : 'desc', ...(cursor ? { cursor } : {}) } };
}
