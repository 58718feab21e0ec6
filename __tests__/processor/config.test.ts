import { ConfigError, loadConfig } from '../../src/processor/config';

const LOCAL = {
  STREAM_NAME: 'vitals-local',
  DB_HOST: '127.0.0.1',
  DB_PORT: '15432',
  DB_NAME: 'vitals',
  DB_PASSWORD: 'pw',
  DB_SSL_CA_FILE: '/tmp/ca.pem',
};

const PROD = {
  NODE_ENV: 'production',
  AWS_REGION: 'eu-central-2',
  STREAM_NAME: 'vitals-prod',
  DB_HOST: 'db.cluster-x.eu-central-2.rds.amazonaws.com',
  DB_PORT: '5432',
  DB_NAME: 'vitals',
  DB_USER: 'vitals_processor',
  DB_AUTH: 'iam',
  DB_SSL_CA_FILE: '/app/certs/rds-global-bundle.pem',
  PHI_KMS_KEY_ARN: 'arn:aws:kms:eu-central-2:123456789012:key/11111111-2222-3333-4444-555555555555',
  PATIENT_HMAC_KMS_KEY_ARN: 'arn:aws:kms:eu-central-2:123456789012:key/66666666-7777-8888-9999-000000000000',
  DEAD_LETTER_KMS_KEY_ARN: 'arn:aws:kms:eu-central-2:123456789012:key/77777777-7777-8888-9999-000000000000',
  WORKER_ID: 'task-1',
  HEALTH_PORT: '8080',
  LOG_LEVEL: 'info',
  NEWS2_WINDOW_MINUTES: '60',
};

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

test('local defaults apply in development', () => {
  const c = loadConfig(LOCAL);
  expect(c.region).toBe('eu-central-2');
  expect(c.db.user).toBe('vitals_processor');
  expect(c.db.auth).toEqual({ kind: 'password', password: 'pw' });
  expect(c.phi).toEqual({ kind: 'local', keyFile: '.local/keys/phi.key' });
  expect(c.news2WindowMs).toBe(3_600_000);
  expect(c.healthPort).toBe(8080);
});

test('a complete production environment selects IAM auth and KMS', () => {
  const c = loadConfig(PROD);
  expect(c.production).toBe(true);
  expect(c.db.auth).toEqual({ kind: 'iam', region: 'eu-central-2' });
  expect(c.phi.kind).toBe('kms');
  expect(c.kinesisEndpoint).toBeUndefined();
});

test('the worker id defaults to hostname-pid, also in production', () => {
  expect(loadConfig({ ...PROD, WORKER_ID: undefined }).workerId).toMatch(new RegExp(`-${process.pid}$`));
});

test('a missing variable is named in the error', () => {
  expect(() => loadConfig({ ...LOCAL, STREAM_NAME: undefined })).toThrow(/missing environment variable STREAM_NAME/);
});

test('production has no silent region default', () => {
  expect(problems({ ...PROD, AWS_REGION: undefined })).toContain('missing environment variable AWS_REGION (required when NODE_ENV=production)');
});

test('production requires every AWS-side variable, all reported at once', () => {
  const p = problems({ NODE_ENV: 'production' });
  for (const name of ['AWS_REGION', 'STREAM_NAME', 'DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_AUTH', 'DB_SSL_CA_FILE', 'PHI_KMS_KEY_ARN', 'PATIENT_HMAC_KMS_KEY_ARN', 'DEAD_LETTER_KMS_KEY_ARN']) {
    expect(p.some((m) => m.includes(`missing environment variable ${name}`))).toBe(true);
  }
});

test('production refuses password authentication', () => {
  expect(() => loadConfig({ ...PROD, DB_AUTH: 'password', DB_PASSWORD: 'x' })).toThrow(/DB_AUTH must be iam when NODE_ENV=production/);
});

test('production refuses a local key file and a custom Kinesis endpoint', () => {
  expect(() => loadConfig({ ...PROD, PHI_LOCAL_KEY_FILE: '/k' })).toThrow(/PHI_LOCAL_KEY_FILE must not be set/);
  expect(() => loadConfig({ ...PROD, KINESIS_ENDPOINT: 'http://localhost:4567' })).toThrow(/KINESIS_ENDPOINT must not be set/);
});

test('password authentication needs DB_PASSWORD', () => {
  expect(() => loadConfig({ ...LOCAL, DB_PASSWORD: undefined })).toThrow(/DB_PASSWORD \(required with DB_AUTH=password\)/);
});

test('IAM authentication refuses a password', () => {
  expect(() => loadConfig({ ...LOCAL, DB_AUTH: 'iam' })).toThrow(/DB_PASSWORD must not be set with DB_AUTH=iam/);
});

test('an unknown DB_AUTH is rejected with the received value', () => {
  expect(() => loadConfig({ ...LOCAL, DB_AUTH: 'kerberos' })).toThrow(/DB_AUTH must be iam or password; received "kerberos"/);
});

test('a malformed KMS ARN is rejected', () => {
  expect(() => loadConfig({ ...PROD, PHI_KMS_KEY_ARN: 'my-key' })).toThrow(/PHI_KMS_KEY_ARN must be a KMS key or alias ARN/);
});

test('numbers out of range are rejected with the received value', () => {
  expect(() => loadConfig({ ...LOCAL, DB_PORT: '70000' })).toThrow(/DB_PORT must be an integer 1..65535; received "70000"/);
  expect(() => loadConfig({ ...LOCAL, NEWS2_WINDOW_MINUTES: '0' })).toThrow(/NEWS2_WINDOW_MINUTES must be an integer/);
  expect(() => loadConfig({ ...LOCAL, HEALTH_PORT: 'abc' })).toThrow(/HEALTH_PORT must be an integer/);
});

test('an unknown log level is rejected', () => {
  expect(() => loadConfig({ ...LOCAL, LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL must be one of/);
});

test('lease renewal must leave room before expiry', () => {
  expect(() => loadConfig({ ...LOCAL, LEASE_TTL_MS: '2000', LEASE_RENEW_MS: '1500' })).toThrow(/LEASE_RENEW_MS must be at most half of LEASE_TTL_MS/);
});

test('the shutdown deadline stays inside the ECS stop timeout', () => {
  expect(() => loadConfig({ ...LOCAL, SHUTDOWN_DEADLINE_MS: '60000' })).toThrow(/SHUTDOWN_DEADLINE_MS must be an integer 1000..55000/);
});

test('a stalled shard makes health fail after 5 minutes unless SHARD_STALL_UNHEALTHY_MS says otherwise', () => {
  expect(loadConfig(LOCAL).shardStallUnhealthyMs).toBe(300_000);
  expect(loadConfig({ ...LOCAL, SHARD_STALL_UNHEALTHY_MS: '60000' }).shardStallUnhealthyMs).toBe(60_000);
});

test('SHARD_STALL_UNHEALTHY_MS must be 10 s to 1 h', () => {
  expect(problems({ ...LOCAL, SHARD_STALL_UNHEALTHY_MS: '5000' })).toEqual(['SHARD_STALL_UNHEALTHY_MS must be an integer 10000..3600000; received "5000"']);
});

test('health turns degraded after 10 s without reaching the database unless DB_UNREACHABLE_DEGRADED_MS says otherwise', () => {
  expect(loadConfig(LOCAL).dbUnreachableDegradedMs).toBe(10_000);
  expect(loadConfig({ ...LOCAL, DB_UNREACHABLE_DEGRADED_MS: '30000' }).dbUnreachableDegradedMs).toBe(30_000);
});

test('DB_UNREACHABLE_DEGRADED_MS must lie between LEASE_RENEW_MS and SHARD_STALL_UNHEALTHY_MS', () => {
  expect(problems({ ...LOCAL, DB_UNREACHABLE_DEGRADED_MS: '2000' })).toEqual([
    'DB_UNREACHABLE_DEGRADED_MS must be greater than LEASE_RENEW_MS and less than SHARD_STALL_UNHEALTHY_MS; received 2000 (LEASE_RENEW_MS 3333, SHARD_STALL_UNHEALTHY_MS 300000)',
  ]);
  expect(problems({ ...LOCAL, DB_UNREACHABLE_DEGRADED_MS: '300000' })).toHaveLength(1);
  expect(problems({ ...LOCAL, DB_UNREACHABLE_DEGRADED_MS: 'soon' })).toEqual(['DB_UNREACHABLE_DEGRADED_MS must be an integer 1000..3600000; received "soon"']);
});

test('a GetRecords call asks for at most 2,000 records unless MAX_RECORDS_PER_CALL says otherwise (bounded batches)', () => {
  expect(loadConfig(LOCAL).maxRecordsPerCall).toBe(2_000);
  expect(loadConfig({ ...LOCAL, MAX_RECORDS_PER_CALL: '10000' }).maxRecordsPerCall).toBe(10_000);
});

describe('alert delivery settings', () => {
  test('default: no relay without a bus, escalation after 5 minutes to two default tiers', () => {
    const c = loadConfig(LOCAL);
    expect(c.alerts.eventBusName).toBeUndefined();
    expect(c.alerts.escalation).toEqual({ afterMs: 300_000, targets: { '*': ['escalation-tier-1', 'escalation-tier-2'] } });
  });

  test('reads the bus, a local endpoint, the escalation time and per-facility targets', () => {
    const c = loadConfig({ ...LOCAL, ALERT_EVENT_BUS_NAME: 'vitals-alerts-dev', EVENTS_ENDPOINT: 'http://127.0.0.1:4010', ALERT_ESCALATION_SECONDS: '20', ALERT_ESCALATION_TARGETS: '{"icu-1":["outreach"]}' });
    expect(c.alerts).toMatchObject({ eventBusName: 'vitals-alerts-dev', eventsEndpoint: 'http://127.0.0.1:4010', escalation: { afterMs: 20_000, targets: { 'icu-1': ['outreach'] } } });
  });

  test('rejects a local bus endpoint in production and bad escalation settings, naming each variable', () => {
    expect(problems({ ...PROD, EVENTS_ENDPOINT: 'http://127.0.0.1:4010' })).toContain('EVENTS_ENDPOINT must not be set when NODE_ENV=production');
    const p = problems({ ...LOCAL, ALERT_ESCALATION_SECONDS: '0', ALERT_ESCALATION_TARGETS: '{"*":[]}', ALERT_EVENT_BUS_NAME: 'bad bus' });
    expect(p.join('\n')).toMatch(/ALERT_ESCALATION_SECONDS must be an integer 1..86400/);
    expect(p.join('\n')).toMatch(/ALERT_ESCALATION_TARGETS\["\*"\]/);
    expect(p.join('\n')).toMatch(/ALERT_EVENT_BUS_NAME must be an event bus name/);
  });
});

test('the dead-letter key must differ from the patient-id key', () => {
  expect(() => loadConfig({ ...PROD, DEAD_LETTER_KMS_KEY_ARN: PROD.PHI_KMS_KEY_ARN })).toThrow(/DEAD_LETTER_KMS_KEY_ARN must differ from PHI_KMS_KEY_ARN/);
});
