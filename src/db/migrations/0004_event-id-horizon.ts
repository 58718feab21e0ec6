/**
 * The event-id (dedupe) horizon follows the stream's CONFIGURED retention, not Kinesis' maximum: a
 * duplicate can only reach the processor while a record is still in the stream (STREAM_RETENTION_HOURS,
 * 168 h by default) plus the producers' retry margin. The floor drops from 366 to 8 days (7 days of
 * default stream retention + 1 day) and the default from 400 to 35 days; the migration command checks
 * the horizon against STREAM_RETENTION_HOURS when it is given. Keeping a year of ids would double the
 * storage at 1,000 events/s (~31 billion rows) for no protection the stream's retention needs.
 * Observations keep their 366-day floor (clinical records).
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`
ALTER TABLE retention_policy DROP CONSTRAINT retention_policy_event_id_horizon_days_check;
ALTER TABLE retention_policy ADD CONSTRAINT retention_policy_event_id_horizon_days_check CHECK (event_id_horizon_days BETWEEN 8 AND 36500);
ALTER TABLE retention_policy ALTER COLUMN event_id_horizon_days SET DEFAULT 35;
`);
};

export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`
ALTER TABLE retention_policy DROP CONSTRAINT retention_policy_event_id_horizon_days_check;
UPDATE retention_policy SET event_id_horizon_days = GREATEST(event_id_horizon_days, 400);
ALTER TABLE retention_policy ADD CONSTRAINT retention_policy_event_id_horizon_days_check CHECK (event_id_horizon_days BETWEEN 366 AND 36500);
ALTER TABLE retention_policy ALTER COLUMN event_id_horizon_days SET DEFAULT 400;
`);
};
