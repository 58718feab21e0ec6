/**
 * Requeues are requested, not performed, by operators: the ops command (its own database role, no
 * keys, no stream access) sets `requeue_requested_at`; the processor, which already holds the
 * dead-letter key, decrypts and re-puts requested rows and sets `requeued_at`. Nullable without a
 * default: a catalogue change only. The partial index keeps the processor's sweep cheap.
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`
    ALTER TABLE dead_letters ADD COLUMN requeue_requested_at timestamptz;
    CREATE INDEX dead_letters_requeue_pending ON dead_letters (dead_letter_id)
      WHERE requeue_requested_at IS NOT NULL AND requeued_at IS NULL;
  `);
};

export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`
    DROP INDEX dead_letters_requeue_pending;
    ALTER TABLE dead_letters DROP COLUMN requeue_requested_at;
  `);
};
