/**
 * HL7 v2 DTM (and the older TS) values: `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`.
 *
 * IHE PCD-01 requires the UTC offset on every time. Many monitors omit it anyway; the gateway then
 * reads the time in its configured IANA time zone (`HL7_LOCAL_TIME_ZONE`, e.g. `Europe/Zurich`) or,
 * without one, refuses the time: guessing an offset would shift every NEWS2 window by hours.
 * An observation time needs at least minute precision.
 */
const DTM = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$/;

export type TimeResult = { ok: true; instant: Date } | { ok: false; message: string };

/** The offset of `timeZone` from UTC at the instant `utcMs`, in minutes. */
export function zoneOffsetMinutes(timeZone: string, utcMs: number): number {
  const parts = formatter(timeZone).formatToParts(new Date(utcMs));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour') % 24, get('minute'), get('second'));
  return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when `name` is an IANA time zone this runtime knows. */
export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Wall-clock time in `timeZone` to UTC. In the hour a DST change skips, the earlier offset applies;
 * in the hour it repeats, the first occurrence (as most clinical systems resolve it).
 */
function localToUtc(wallMs: number, timeZone: string): number {
  const DAY_MS = 86_400_000;
  // The offsets in force a day either side bracket any change near this wall time.
  const offsets = [...new Set([zoneOffsetMinutes(timeZone, wallMs - DAY_MS), zoneOffsetMinutes(timeZone, wallMs + DAY_MS)])];
  const valid = offsets.map((o) => wallMs - o * 60_000).filter((t, i) => zoneOffsetMinutes(timeZone, t) === offsets[i]);
  if (valid.length > 0) return Math.min(...valid);
  return wallMs - (offsets[0] as number) * 60_000;
}

/**
 * Parses a DTM observation time. `field` names the field in messages (e.g. "OBX-14"); messages never
 * quote the value.
 */
export function parseHl7Time(value: string, field: string, localTimeZone?: string): TimeResult {
  const m = DTM.exec(value);
  if (!m) return { ok: false, message: `${field} must be an HL7 date/time (YYYYMMDDHHMM[SS[.S]][+/-ZZZZ])` };
  const [, y, mo, d, h, mi, s, frac, offset] = m;
  if (mi === undefined) return { ok: false, message: `${field} must be precise to the minute at least` };
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  const millis = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const daysInMonth = month >= 1 && month <= 12 ? new Date(Date.UTC(year, month, 0)).getUTCDate() : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, message: `${field} is not a real calendar date and time` };
  }
  const wall = new Date(0);
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, second, millis);
  if (offset !== undefined) {
    const sign = offset.startsWith('-') ? -1 : 1;
    const oh = Number(offset.slice(1, 3));
    const om = Number(offset.slice(3, 5));
    if (oh > 14 || om > 59) return { ok: false, message: `${field} has an impossible UTC offset` };
    return { ok: true, instant: new Date(wall.getTime() - sign * (oh * 60 + om) * 60_000) };
  }
  if (!localTimeZone) {
    return { ok: false, message: `${field} has no UTC offset (IHE PCD-01 requires one; or set HL7_LOCAL_TIME_ZONE on the gateway)` };
  }
  return { ok: true, instant: new Date(localToUtc(wall.getTime(), localTimeZone)) };
}

/** An instant as an HL7 DTM in UTC with an explicit offset, e.g. `20260301101500.123+0000`. */
export function formatHl7Time(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}.${p(date.getUTCMilliseconds(), 3)}+0000`;
}
