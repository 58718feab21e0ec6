/**
 * Initial schema. Plain SQL (through pgm.sql) because declarative partitioning and partition
 * maintenance are clearer in SQL than in the builder API.
 *
 * Dedupe: a unique constraint on a partitioned table must include the partition key, so the global
 * "each event id once" rule lives in the non-partitioned `event_ids` table. The writer inserts ids
 * there first (ON CONFLICT DO NOTHING) and stores observations only for the ids it actually inserted,
 * in the same statement and transaction.
 */
import type { MigrationBuilder } from 'node-pg-migrate/dist/bundle/index';

export const up = (pgm: MigrationBuilder): void => {
  pgm.sql(`
-- One row per accepted event id: the global idempotency key (producer retries are stored once).
CREATE TABLE event_ids (
  event_id    uuid        PRIMARY KEY,
  observed_at timestamptz NOT NULL,
  stored_at   timestamptz NOT NULL DEFAULT now()
);

-- Envelope encryption: data keys wrapped by KMS (or by the local key file), referenced by ciphertexts.
CREATE TABLE data_keys (
  data_key_id  uuid        PRIMARY KEY,
  wrapped_key  bytea       NOT NULL,
  wrapping_key text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- The only place a patient identifier is stored: AES-256-GCM ciphertext (iv || ciphertext || tag,
-- additional data = the pseudonym) keyed by the HMAC-SHA256 pseudonym every other table joins on.
CREATE TABLE patients (
  patient_pseudonym     bytea       PRIMARY KEY CHECK (octet_length(patient_pseudonym) = 32),
  patient_id_ciphertext bytea       NOT NULL,
  data_key_id           uuid        NOT NULL REFERENCES data_keys (data_key_id),
  first_seen_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE observations (
  event_id               uuid             NOT NULL,
  observed_at            timestamptz      NOT NULL,
  patient_pseudonym      bytea            NOT NULL,
  device_id              text             NOT NULL,
  facility_id            text             NOT NULL,
  pulse                  double precision,
  respiration_rate       double precision,
  spo2                   double precision,
  spo2_scale             smallint,
  on_supplemental_oxygen boolean,
  systolic_bp            double precision,
  diastolic_bp           double precision,
  temperature_c          double precision,
  consciousness          char(1),
  shard_id               text             NOT NULL,
  sequence_number        text             NOT NULL,
  arrived_at             timestamptz,
  stored_at              timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX observations_patient_time ON observations (patient_pseudonym, observed_at DESC);
CREATE TABLE observations_default PARTITION OF observations DEFAULT;

-- Latest value of each NEWS2 parameter per patient ({"pulse": {"value": 80, "observedAt": "..."}, ...}).
CREATE TABLE latest_vitals (
  patient_pseudonym bytea       PRIMARY KEY,
  facility_id       text        NOT NULL,
  vitals            jsonb       NOT NULL,
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- One score per stored observation whose patient had all seven parameters within the window.
CREATE TABLE news2_scores (
  event_id          uuid        NOT NULL,
  observed_at       timestamptz NOT NULL,
  patient_pseudonym bytea       NOT NULL,
  facility_id       text        NOT NULL,
  total             smallint    NOT NULL,
  risk              text        NOT NULL CHECK (risk IN ('low', 'low-medium', 'medium', 'high')),
  parameters        jsonb       NOT NULL,
  scored_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX news2_scores_patient_time ON news2_scores (patient_pseudonym, observed_at DESC);
CREATE TABLE news2_scores_default PARTITION OF news2_scores DEFAULT;

-- Persisted input of the alert state machine (one alert per transition, not per event).
CREATE TABLE alert_state (
  patient_pseudonym   bytea       PRIMARY KEY,
  risk                text        CHECK (risk IN ('low', 'low-medium', 'medium', 'high')),
  any_parameter_three boolean     NOT NULL,
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
  alert_id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id          uuid        NOT NULL UNIQUE,
  observed_at       timestamptz NOT NULL,
  patient_pseudonym bytea       NOT NULL,
  facility_id       text        NOT NULL,
  kind              text        NOT NULL,
  risk              text        NOT NULL CHECK (risk IN ('low', 'low-medium', 'medium', 'high')),
  total             smallint    NOT NULL,
  parameters        jsonb       NOT NULL,
  raised_at         timestamptz NOT NULL DEFAULT now(),
  acknowledged_at   timestamptz
);
CREATE INDEX alerts_facility_open ON alerts (facility_id, raised_at DESC) WHERE acknowledged_at IS NULL;

-- Records the core rejected. The payload is kept only envelope-encrypted (for replay after a fix);
-- errors hold field pointers and rule messages, never values.
CREATE TABLE dead_letters (
  dead_letter_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream_name        text        NOT NULL,
  shard_id           text        NOT NULL,
  sequence_number    text        NOT NULL,
  reason             text        NOT NULL CHECK (reason IN ('undecodable', 'invalid', 'future-timestamp')),
  errors             jsonb       NOT NULL,
  payload_bytes      integer     NOT NULL,
  payload_ciphertext bytea       NOT NULL,
  data_key_id        uuid        NOT NULL REFERENCES data_keys (data_key_id),
  arrived_at         timestamptz,
  dead_lettered_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_name, shard_id, sequence_number)
);

-- Kinesis shard leases and checkpoints (KCL-style). epoch increases on every change of owner;
-- every commit is fenced on (owner, epoch).
CREATE TABLE shard_leases (
  stream_name      text        NOT NULL,
  shard_id         text        NOT NULL,
  parent_shard_ids text[]      NOT NULL DEFAULT '{}',
  owner            text,
  epoch            bigint      NOT NULL DEFAULT 0,
  expires_at       timestamptz,
  checkpoint       text,
  finished         boolean     NOT NULL DEFAULT false,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream_name, shard_id)
);

-- Daily partitions (UTC) of the time-partitioned tables, created ahead of time. SECURITY DEFINER so
-- the processor role, which has no DDL rights, can keep partitions ahead through this one narrow
-- function. Days whose rows already sit in the default partition are left there (creating the
-- partition would fail); an operator moves them with a detach/attach.
CREATE FUNCTION ensure_time_partitions(days_ahead integer DEFAULT 7, days_back integer DEFAULT 0)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
  parent  text;
  day     date;
  part    text;
  busy    boolean;
  created integer := 0;
BEGIN
  IF days_ahead NOT BETWEEN 0 AND 62 OR days_back NOT BETWEEN 0 AND 62 THEN
    RAISE EXCEPTION 'days_ahead and days_back must be 0..62; received % and %', days_ahead, days_back;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('ensure_time_partitions'));
  FOREACH parent IN ARRAY ARRAY['observations', 'news2_scores'] LOOP
    FOR i IN -days_back..days_ahead LOOP
      day := (now() AT TIME ZONE 'UTC')::date + i;
      part := parent || '_' || to_char(day, 'YYYYMMDD');
      CONTINUE WHEN to_regclass(part) IS NOT NULL;
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE observed_at >= %L AND observed_at < %L)',
                     parent || '_default', (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'))
        INTO busy;
      CONTINUE WHEN busy;
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                     part, parent, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
      created := created + 1;
    END LOOP;
  END LOOP;
  RETURN created;
END
$fn$;
REVOKE ALL ON FUNCTION ensure_time_partitions(integer, integer) FROM PUBLIC;
`);
};

export const down = (pgm: MigrationBuilder): void => {
  pgm.sql(`
DROP FUNCTION IF EXISTS ensure_time_partitions(integer, integer);
DROP TABLE IF EXISTS shard_leases, dead_letters, alerts, alert_state, news2_scores, latest_vitals,
  observations, patients, data_keys, event_ids CASCADE;
`);
};
