import { formatHl7Time, isTimeZone, parseHl7Time } from '../../src/hl7/hl7-time';

const ok = (value: string, tz?: string): string => {
  const r = parseHl7Time(value, 'OBX-14', tz);
  if (!r.ok) throw new Error(r.message);
  return r.instant.toISOString();
};
const message = (value: string, tz?: string): string => {
  const r = parseHl7Time(value, 'OBX-14', tz);
  return r.ok ? '' : r.message;
};

test('a time with a UTC offset is converted to UTC', () => {
  expect(ok('20260301101500+0100')).toBe('2026-03-01T09:15:00.000Z');
  expect(ok('20260301101500-0530')).toBe('2026-03-01T15:45:00.000Z');
});

test('fractional seconds up to four digits are kept to the millisecond', () => {
  expect(ok('20260301101500.1234+0000')).toBe('2026-03-01T10:15:00.123Z');
});

test('minute precision is enough; hour precision is not', () => {
  expect(ok('202603011015+0000')).toBe('2026-03-01T10:15:00.000Z');
  expect(message('2026030110+0000')).toMatch(/precise to the minute/);
});

test('a time without an offset is refused unless a local time zone is configured', () => {
  expect(message('20260301101500')).toMatch(/no UTC offset/);
  expect(ok('20260301101500', 'Europe/Zurich')).toBe('2026-03-01T09:15:00.000Z');
  expect(ok('20260701101500', 'Europe/Zurich')).toBe('2026-07-01T08:15:00.000Z');
});

test('in the repeated hour of a DST change the first occurrence is taken', () => {
  // 2026-10-25 02:30 happens twice in Zurich (CEST then CET).
  expect(ok('20261025023000', 'Europe/Zurich')).toBe('2026-10-25T00:30:00.000Z');
});

test('a wall time inside the skipped hour of a DST change resolves with the earlier offset', () => {
  // 2026-03-29 02:30 does not exist in Zurich.
  expect(ok('20260329023000', 'Europe/Zurich')).toBe('2026-03-29T01:30:00.000Z');
});

test('impossible dates and malformed text are refused without quoting the value', () => {
  expect(message('20260231101500+0000')).toMatch(/not a real calendar date/);
  expect(message('yesterday')).toBe('OBX-14 must be an HL7 date/time (YYYYMMDDHHMM[SS[.S]][+/-ZZZZ])');
  expect(message('20260301101500+1600')).toMatch(/impossible UTC offset/);
});

test('formatHl7Time writes UTC with an explicit offset', () => {
  expect(formatHl7Time(new Date('2026-03-01T09:15:00.123Z'))).toBe('20260301091500.123+0000');
});

test('isTimeZone knows IANA zones and refuses others', () => {
  expect(isTimeZone('Europe/Zurich')).toBe(true);
  expect(isTimeZone('Mars/Olympus')).toBe(false);
});
