/**
 * Dead-letter reason `unprocessable`: a record the core accepted but the database (or the writer)
 * kept rejecting for a reason in the record itself (a data exception, an integrity violation, a
 * trigger's RAISE). The shard reader isolates it by splitting its batch, stores it here (payload
 * envelope-encrypted like every dead letter) and moves on, instead of retrying the batch forever.
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_reason_check;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_reason_check
  CHECK (reason IN ('undecodable', 'invalid', 'future-timestamp', 'unprocessable'));
`);
};

export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_reason_check;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_reason_check
  CHECK (reason IN ('undecodable', 'invalid', 'future-timestamp'));
`);
};
