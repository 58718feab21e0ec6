/**
 * Per-patient CPU (issue 11): `latest_vitals.vitals` (jsonb: each parameter's value and ISO time) ->
 * `packed` (bytea, 145 bytes: src/pipeline/latest-vitals-packing.ts). Every batch locks, reads and
 * rewrites the row of each patient it touches; as JSON that row was quoted into a jsonb[] literal,
 * parsed by PostgreSQL, printed back and parsed again by the client, ~18 % of PostgreSQL's CPU and a
 * tenth of the processor's when each batch touches many patients (what steady traffic does: a few
 * events per patient per poll). Only the writer reads the row.
 *
 * Layout: version byte 1, then per parameter (pulse, respirationRate, spo2, spo2Scale,
 * onSupplementalOxygen, systolicBp, diastolicBp, temperatureC, consciousness) the value and the
 * observation time in epoch milliseconds, each a big-endian float64 (float8send), NaN when never
 * observed; booleans 0/1, consciousness A, C, V, P, U as 0-4. NULL is the empty state (a row locked
 * before it held a value). Existing rows are packed in SQL and checked; down unpacks them back.
 *
 * Deploy order (docs/runbook.md "Deploying changes"): the new image rolls out before the migration
 * task runs. Until then the new processor's statements fail on the missing `packed` column, and after
 * it an old task still running fails on the missing `vitals`: undefined_column (42703) is retried,
 * never poison, so shards stall until the migration finishes and nothing is lost or stored twice.
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

const SLOTS = ['pulse', 'respirationRate', 'spo2', 'spo2Scale', 'onSupplementalOxygen', 'systolicBp', 'diastolicBp', 'temperatureC', 'consciousness'] as const;

/** jsonb slot -> its value as float8 (booleans 0/1, AVPU codes 0-4). */
function valueSql(slot: (typeof SLOTS)[number], tv: string): string {
  if (slot === 'onSupplementalOxygen') return `(${tv}->>'value')::boolean::int::float8`;
  if (slot === 'consciousness') return `(array_position(ARRAY['A','C','V','P','U'], ${tv}->>'value') - 1)::float8`;
  return `(${tv}->>'value')::float8`;
}

const PACK_SQL = `'\\x01'::bytea || ${SLOTS.map(
  (s) => `CASE WHEN vitals ? '${s}' THEN float8send(${valueSql(s, `(vitals->'${s}')`)})
      || float8send((extract(epoch FROM (vitals->'${s}'->>'observedAt')::timestamptz) * 1000)::float8)
    ELSE float8send('NaN') || float8send('NaN') END`,
).join('\n  || ')}`;

/** Slot i's value or time (offset 0 or 8) as float8, from IEEE 754 bits (SQL has no float8recv). */
const F8_FUNCTION_SQL = `
CREATE FUNCTION pg_temp.f8(b bytea) RETURNS float8 LANGUAGE sql IMMUTABLE AS $f$
  -- float8 arithmetic throughout: a 52-bit mantissa over 2^52, plus 1, times a power of two, is exact.
  SELECT CASE WHEN e = 2047 THEN 'NaN'::float8
              WHEN e = 0 THEN (CASE WHEN s = 1 THEN -1 ELSE 1 END) * (m::float8 / 4503599627370496::float8) * power(2::float8, -1022)
              ELSE (CASE WHEN s = 1 THEN -1 ELSE 1 END) * (1 + m::float8 / 4503599627370496::float8) * power(2::float8, e - 1023) END
  FROM (SELECT (bits >> 63) & 1 AS s, (bits >> 52) & 2047 AS e, bits & 4503599627370495 AS m
        FROM (SELECT ('x' || encode(b, 'hex'))::bit(64)::bigint AS bits) x) y
$f$;`;

function unpackSlotSql(slot: (typeof SLOTS)[number], i: number): string {
  const value = `pg_temp.f8(substring(packed FROM ${2 + i * 16} FOR 8))`;
  const time = `pg_temp.f8(substring(packed FROM ${10 + i * 16} FOR 8))`;
  const json =
    slot === 'onSupplementalOxygen' ? `to_jsonb(${value} <> 0)`
    : slot === 'consciousness' ? `to_jsonb((ARRAY['A','C','V','P','U'])[${value}::int + 1])`
    : `to_jsonb(${value})`;
  return `CASE WHEN ${time} = 'NaN'::float8 THEN '{}'::jsonb ELSE jsonb_build_object('${slot}', jsonb_build_object('value', ${json},
      'observedAt', to_char(to_timestamp(${time} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))) END`;
}

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`
ALTER TABLE latest_vitals ADD COLUMN packed bytea CHECK (octet_length(packed) = 145 AND get_byte(packed, 0) = 1);
UPDATE latest_vitals SET packed = CASE WHEN vitals = '{}'::jsonb THEN NULL ELSE ${PACK_SQL} END;
DO $do$
BEGIN
  IF EXISTS (SELECT 1 FROM latest_vitals WHERE vitals <> '{}'::jsonb AND packed IS NULL) THEN
    RAISE EXCEPTION 'latest_vitals rows that could not be packed: nothing migrated';
  END IF;
END
$do$;
ALTER TABLE latest_vitals DROP COLUMN vitals;
`);
};

export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`
${F8_FUNCTION_SQL}
ALTER TABLE latest_vitals ADD COLUMN vitals jsonb;
UPDATE latest_vitals SET vitals = CASE WHEN packed IS NULL THEN '{}'::jsonb ELSE ${SLOTS.map((s, i) => unpackSlotSql(s, i)).join('\n  || ')} END;
ALTER TABLE latest_vitals ALTER COLUMN vitals SET NOT NULL;
ALTER TABLE latest_vitals DROP COLUMN packed;
DROP FUNCTION pg_temp.f8(bytea);
`);
};
