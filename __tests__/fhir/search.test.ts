import { dateRange, decodeCursor, encodeCursor, parseObservationSearch, type ObservationSearch } from '../../src/fhir/search';

const P = 'ab'.repeat(32);
const ok = (q: Record<string, string | string[]>): ObservationSearch => {
  const r = parseObservationSearch(q);
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.search;
};
const problems = (q: Record<string, string | string[]>): string[] => {
  const r = parseObservationSearch(q);
  return r.ok ? [] : r.problems;
};

test('the patient may be a reference or the bare pseudonym, in either parameter', () => {
  expect(ok({ patient: `Patient/${P}` }).patientPseudonym).toBe(P);
  expect(ok({ subject: P.toUpperCase() }).patientPseudonym).toBe(P);
});

test('defaults: every kind, 50 per page, newest first', () => {
  expect(ok({ patient: P })).toEqual({ patientPseudonym: P, dates: [], kinds: ['heart-rate', 'respiratory-rate', 'oxygen-saturation', 'blood-pressure', 'body-temperature', 'news2'], count: 50, order: 'desc' });
});

test('date prefixes become half-open bounds at the precision given', () => {
  const day = Date.UTC(2026, 2, 1);
  expect(ok({ patient: P, date: ['ge2026-03-01', 'lt2026-03-02T10:00:00Z'] }).dates).toEqual([{ from: day }, { before: Date.UTC(2026, 2, 2, 10) }]);
  expect(ok({ patient: P, date: '2026-03-01' }).dates).toEqual([{ from: day, before: day + 86_400_000 }]);
  expect(ok({ patient: P, date: 'gt2026-03' }).dates).toEqual([{ from: Date.UTC(2026, 3, 1) }]);
  expect(ok({ patient: P, date: 'le2026-03-01T10:00:00+01:00' }).dates).toEqual([{ before: Date.UTC(2026, 2, 1, 9, 0, 1) }]);
  expect(ok({ patient: P, date: 'sa2026' }).dates).toEqual([{ from: Date.UTC(2027, 0, 1) }]);
});

test('dateRange refuses impossible dates', () => {
  expect(dateRange('2026-02-30')).toBeUndefined();
  expect(dateRange('2026-13')).toBeUndefined();
  expect(dateRange('yesterday')).toBeUndefined();
});

test('code and category filters narrow the kinds', () => {
  expect(ok({ patient: P, code: 'http://loinc.org|8867-4,8310-5' }).kinds).toEqual(['heart-rate', 'body-temperature']);
  expect(ok({ patient: P, code: '8480-6' }).kinds).toEqual(['blood-pressure']);
  expect(ok({ patient: P, code: '59408-5' }).kinds).toEqual(['oxygen-saturation']);
  expect(ok({ patient: P, category: 'survey' }).kinds).toEqual(['news2']);
  expect(ok({ patient: P, code: 'http://snomed.info/sct|8867-4' }).kinds).toEqual([]);
});

test('every problem is reported at once, naming parameters and rules', () => {
  expect(problems({ date: 'ne2026', _count: '0', _sort: 'code', category: 'labs', foo: 'x', _cursor: 'junk' })).toEqual([
    'search parameter "foo" is not supported (supported: patient, subject, date, code, category, _count, _sort, _cursor, _format)',
    'patient is required: patient=Patient/<pseudonym> (64 hex digits)',
    'date prefix "ne" is not supported (use eq, gt, ge, lt, le, sa or eb)',
    'category must be vital-signs or survey; received "labs"',
    '_count must be an integer 1..500; received "0"',
    '_sort must be date or -date; received "code"',
    '_cursor is not a page token this server issued',
  ]);
  expect(problems({ patient: 'Patient/MRN-123' })).toEqual(['patient must be Patient/<pseudonym>, the pseudonym being 64 hex digits']);
  expect(problems({ patient: P, subject: 'cd'.repeat(32) })).toEqual(['patient and subject must name one patient']);
});

test('cursors round-trip and forged ones are refused', () => {
  const c = { time: '2026-03-01T10:00:00.123456Z', eventId: 'd3c53754-7749-5ca2-971e-dc79ab824ad2', kind: 3 };
  expect(decodeCursor(encodeCursor(c))).toEqual(c);
  expect(decodeCursor(Buffer.from(JSON.stringify(["2026'); DROP TABLE x;--", c.eventId, 1])).toString('base64url'))).toBeUndefined();
  expect(decodeCursor(Buffer.from(JSON.stringify([c.time, c.eventId, 9])).toString('base64url'))).toBeUndefined();
});
