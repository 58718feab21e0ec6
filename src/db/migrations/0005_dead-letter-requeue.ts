/**
 * Dead letters can be requeued (src/db/requeue-dead-letters.ts): after a processor fix, the payload is
 * decrypted and put back on the stream, and the row is marked `requeued_at` once Kinesis accepted it,
 * so a later run selects only what is still waiting. Nullable and without a default: adding it is a
 * catalogue change only (no table rewrite). The row itself stays as the record of what happened.
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`ALTER TABLE dead_letters ADD COLUMN requeued_at timestamptz;`);
};

export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`ALTER TABLE dead_letters DROP COLUMN requeued_at;`);
};
