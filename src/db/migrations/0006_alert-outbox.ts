/**
 * Alerts that reach clinicians (issue 12): `clinical_alerts` holds each alert's lifecycle (raised ..
 * cleared, acknowledgement, escalation tier and deadline), `alert_outbox` one row per transition to
 * deliver. The processor writes both in the transaction that stores the observation (transactional
 * outbox); the relay delivers the rows and marks them delivered (at least once; the transition id
 * is the consumers' idempotency key). `outbox_id` orders a patient's transitions: rows for one
 * patient are inserted under the patient's latest_vitals row lock, so their ids follow commit order.
 * The legacy `alerts`/`alert_state` tables stay as they were (one row per raise).
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`
CREATE TABLE clinical_alerts (
  alert_id           uuid        PRIMARY KEY,
  patient_pseudonym  bytea       NOT NULL CHECK (octet_length(patient_pseudonym) = 32),
  facility_id        text        NOT NULL,
  device_id          text        NOT NULL,
  severity           text        NOT NULL CHECK (severity IN ('low-medium', 'medium', 'high')),
  raised_at          timestamptz NOT NULL,
  high_since         timestamptz,
  cleared_at         timestamptz,
  acknowledged_at    timestamptz,
  -- The caller's identity (API principal), never a patient's.
  acknowledged_by    text,
  escalation_tier    smallint    NOT NULL DEFAULT 0,
  next_escalation_at timestamptz,
  sequence           integer     NOT NULL,
  last_detail        jsonb       NOT NULL
);
-- At most one open alert per patient.
CREATE UNIQUE INDEX clinical_alerts_open_patient ON clinical_alerts (patient_pseudonym) WHERE cleared_at IS NULL;
CREATE INDEX clinical_alerts_escalation_due ON clinical_alerts (next_escalation_at) WHERE next_escalation_at IS NOT NULL;

CREATE TABLE alert_outbox (
  outbox_id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transition_id     uuid        NOT NULL UNIQUE,
  alert_id          uuid        NOT NULL,
  patient_pseudonym bytea       NOT NULL,
  detail            jsonb       NOT NULL,
  -- Stream arrival of the observation behind it (null for acknowledgements and escalations): latency start.
  received_at       timestamptz,
  created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  attempts          integer     NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz,
  delivered_at      timestamptz
);
CREATE INDEX alert_outbox_pending ON alert_outbox (patient_pseudonym, outbox_id) WHERE delivered_at IS NULL;
CREATE INDEX alert_outbox_delivered ON alert_outbox (delivered_at) WHERE delivered_at IS NOT NULL;
`);
};

export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`DROP TABLE IF EXISTS alert_outbox, clinical_alerts;`);
};
