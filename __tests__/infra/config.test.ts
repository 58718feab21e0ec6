import { ConfigError, DEFAULT_SHARD_COUNT, loadConfig, settingsFrom } from '../../src/infra/config';

/** Production requires a custom API domain unless the default endpoint is accepted: accepted here, where the API edge is not the subject. */
const ENDPOINT_ACCEPTED = { API_EXECUTE_API_ENDPOINT: 'enabled' } as const;
const CERTIFICATE = 'arn:aws:acm:eu-central-2:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000';

describe('loadConfig', () => {
  it('applies secure defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      environment: 'dev',
      region: 'eu-central-2',
      production: false,
      availabilityZones: ['eu-central-2a', 'eu-central-2b', 'eu-central-2c'],
      shardCount: DEFAULT_SHARD_COUNT,
      streamRetentionHours: 168,
      backupRetentionDays: 35,
      auditObjectLock: { mode: 'OFF', days: 365 },
      backupVaultLock: false,
      logRetentionDays: 365,
      dbEngineVersion: '16.6',
      dbMinCapacityAcu: 0.5,
    });
  });

  it('derives the state bucket, lock table and key alias from the state prefix and region', () => {
    expect(loadConfig({ STATE_PREFIX: 'acme', AWS_REGION: 'eu-west-1' }).state).toEqual({
      bucket: 'acme-tfstate-eu-west-1',
      lockTable: 'acme-tfstate-lock',
      keyAlias: 'alias/acme-tfstate',
      accessLogBucket: 'acme-tfstate-access-logs-eu-west-1',
      region: 'eu-west-1',
    });
  });

  it('uses an explicit state bucket name when one is given', () => {
    expect(loadConfig({ STATE_BUCKET: 'my-org-terraform-state' }).state.bucket).toBe('my-org-terraform-state');
  });

  it('treats every environment not listed in NON_PRODUCTION_ENVIRONMENTS as production (secure by default)', () => {
    expect(loadConfig({ ENVIRONMENT: 'prod', ...ENDPOINT_ACCEPTED }).production).toBe(true);
    expect(loadConfig({ ENVIRONMENT: 'staging', ...ENDPOINT_ACCEPTED }).production).toBe(true);
    expect(loadConfig({ ENVIRONMENT: 'dev' }).production).toBe(false);
    expect(loadConfig({ ENVIRONMENT: 'test' }).production).toBe(false);
    expect(loadConfig({ ENVIRONMENT: 'qa', NON_PRODUCTION_ENVIRONMENTS: 'dev,qa' }).production).toBe(false);
    expect(() => loadConfig({ NON_PRODUCTION_ENVIRONMENTS: 'dev,Bad Name' })).toThrow(/NON_PRODUCTION_ENVIRONMENTS must be environment names/);
  });

  it('locks the audit bucket in COMPLIANCE mode and the backup vault in production by default, and neither elsewhere', () => {
    expect(loadConfig({ ENVIRONMENT: 'prod', ...ENDPOINT_ACCEPTED })).toMatchObject({ auditObjectLock: { mode: 'COMPLIANCE', days: 365 }, backupVaultLock: true });
    expect(loadConfig({ ENVIRONMENT: 'dev' })).toMatchObject({ auditObjectLock: { mode: 'OFF' }, backupVaultLock: false });
    expect(loadConfig({ ENVIRONMENT: 'dev', AUDIT_OBJECT_LOCK_MODE: 'governance', AUDIT_OBJECT_LOCK_DAYS: '30' }).auditObjectLock).toEqual({ mode: 'GOVERNANCE', days: 30 });
  });

  it('refuses to switch the audit Object Lock off in production, and rejects bad lock settings with their values', () => {
    expect(() => loadConfig({ ENVIRONMENT: 'prod', AUDIT_OBJECT_LOCK_MODE: 'OFF' })).toThrow(/AUDIT_OBJECT_LOCK_MODE must not be OFF in a production environment/);
    expect(() => loadConfig({ AUDIT_OBJECT_LOCK_MODE: 'LEGAL' })).toThrow(/AUDIT_OBJECT_LOCK_MODE must be COMPLIANCE, GOVERNANCE or OFF/);
    expect(() => loadConfig({ AUDIT_OBJECT_LOCK_DAYS: '3000' })).toThrow(/AUDIT_OBJECT_LOCK_DAYS must be an integer from 1 to AUDIT_RETENTION_DAYS \(2557\); received "3000"/);
    expect(() => loadConfig({ BACKUP_VAULT_LOCK: 'yes' })).toThrow(/BACKUP_VAULT_LOCK must be true or false/);
  });

  it('derives availability zones from the region', () => {
    expect(loadConfig({ AWS_REGION: 'us-east-1' }).availabilityZones).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
  });

  it.each([
    ['uppercase', 'Dev'],
    ['a leading digit', '1dev'],
    ['a hyphen', 'dev-1'],
    ['more than 8 characters', 'development'],
  ])('rejects an environment suffix with %s', (_why, value) => {
    expect(() => loadConfig({ ENVIRONMENT: value })).toThrow(new RegExp(`ENVIRONMENT must be lowercase alphanumeric.*received "${value}"`));
  });

  it('rejects a region that is not an AWS region code', () => {
    expect(() => loadConfig({ AWS_REGION: 'eu-central-9' })).toThrow(/AWS_REGION must be an AWS region code.*received "eu-central-9"/);
  });

  it('rejects a region with fewer than three availability zones', () => {
    expect(() => loadConfig({ AWS_REGION: 'us-west-1' })).toThrow(/AWS_REGION .*at least 3 availability zones/);
  });

  it('rejects availability zones outside the region', () => {
    expect(() => loadConfig({ AVAILABILITY_ZONES: 'eu-central-2a,eu-central-2b,eu-west-1c' })).toThrow(/AVAILABILITY_ZONES must be 3 distinct zones of eu-central-2/);
  });

  it('rejects a VPC CIDR that is not a /16', () => {
    expect(() => loadConfig({ VPC_CIDR: '10.0.0.0/24' })).toThrow(/VPC_CIDR must be an IPv4 \/16.*received "10.0.0.0\/24"/);
  });

  it.each(['0', '501', '2.5', 'four'])('rejects shard count %s', (value) => {
    expect(() => loadConfig({ SHARD_COUNT: value })).toThrow(new RegExp(`SHARD_COUNT must be an integer from 1 to 500; received "${value}"`));
  });

  it.each(['23', '8761'])('rejects stream retention of %s hours', (value) => {
    expect(() => loadConfig({ STREAM_RETENTION_HOURS: value })).toThrow(/STREAM_RETENTION_HOURS must be an integer from 24 to 8760 hours/);
  });

  it.each(['6', '36'])('rejects backup retention of %s days', (value) => {
    expect(() => loadConfig({ BACKUP_RETENTION_DAYS: value })).toThrow(/BACKUP_RETENTION_DAYS must be an integer from 7 to 35 days/);
  });

  it('rejects a log retention CloudWatch does not offer', () => {
    expect(() => loadConfig({ LOG_RETENTION_DAYS: '100' })).toThrow(/LOG_RETENTION_DAYS must be one of CloudWatch Logs' retention values.*received "100"/);
  });

  it('rejects audit retention under a year', () => {
    expect(() => loadConfig({ AUDIT_RETENTION_DAYS: '90' })).toThrow(/AUDIT_RETENTION_DAYS must be an integer of at least 365 days/);
  });

  it('rejects an engine version before PostgreSQL 16', () => {
    expect(() => loadConfig({ DB_ENGINE_VERSION: '15.4' })).toThrow(/DB_ENGINE_VERSION must be an Aurora PostgreSQL version 16 or later/);
  });

  it('rejects a minimum capacity of 0 ACU (a paused cluster)', () => {
    expect(() => loadConfig({ DB_MIN_ACU: '0' })).toThrow(/DB_MIN_ACU must be from 0.5 to 256 in steps of 0.5/);
  });

  it('rejects a maximum capacity below the minimum', () => {
    expect(() => loadConfig({ DB_MIN_ACU: '4', DB_MAX_ACU: '2' })).toThrow(/DB_MAX_ACU must be at least DB_MIN_ACU \(4\)/);
  });

  it('rejects a state prefix that cannot start a bucket name', () => {
    expect(() => loadConfig({ STATE_PREFIX: 'Acme_Corp' })).toThrow(/STATE_PREFIX must be lowercase/);
  });

  it('rejects an invalid state bucket name', () => {
    expect(() => loadConfig({ STATE_BUCKET: 'Not_A_Bucket' })).toThrow(/STATE_BUCKET must be a valid S3 bucket name/);
  });

  it('keeps the default execute-api endpoint outside production, and requires a custom domain in production unless the endpoint is accepted', () => {
    expect(loadConfig({}).api).toEqual({ allowedPrincipalArns: [], executeApiEndpoint: true });
    expect(() => loadConfig({ ENVIRONMENT: 'prod' })).toThrow(/API_DOMAIN_NAME must be set with API_CERTIFICATE_ARN while the default execute-api endpoint is disabled \(the default in production: prod is not in NON_PRODUCTION_ENVIRONMENTS\); set API_EXECUTE_API_ENDPOINT=enabled/);
    expect(loadConfig({ ENVIRONMENT: 'prod', ...ENDPOINT_ACCEPTED }).api.executeApiEndpoint).toBe(true);
    expect(loadConfig({ ENVIRONMENT: 'prod', API_DOMAIN_NAME: 'API.Vitals.example.org', API_CERTIFICATE_ARN: CERTIFICATE }).api).toEqual({
      allowedPrincipalArns: [],
      customDomain: { domainName: 'api.vitals.example.org', certificateArn: CERTIFICATE },
      executeApiEndpoint: false,
    });
  });

  it('switches the default endpoint off whenever a custom domain is set, and refuses to switch it on then', () => {
    expect(loadConfig({ API_DOMAIN_NAME: 'api.dev.example.org', API_CERTIFICATE_ARN: CERTIFICATE }).api.executeApiEndpoint).toBe(false);
    expect(() => loadConfig({ API_DOMAIN_NAME: 'api.dev.example.org', API_CERTIFICATE_ARN: CERTIFICATE, ...ENDPOINT_ACCEPTED })).toThrow(/API_EXECUTE_API_ENDPOINT must not be enabled when API_DOMAIN_NAME is set/);
    expect(() => loadConfig({ API_EXECUTE_API_ENDPOINT: 'off' })).toThrow(/API_EXECUTE_API_ENDPOINT must be enabled or disabled.*received "off"/);
    expect(() => loadConfig({ API_EXECUTE_API_ENDPOINT: 'disabled' })).toThrow(/API_DOMAIN_NAME must be set with API_CERTIFICATE_ARN/);
  });

  it('rejects a custom domain without its certificate, a certificate of another region and a malformed name', () => {
    expect(() => loadConfig({ API_DOMAIN_NAME: 'api.dev.example.org' })).toThrow(/API_CERTIFICATE_ARN must be set together with API_DOMAIN_NAME/);
    expect(() => loadConfig({ API_DOMAIN_NAME: 'api.dev.example.org', API_CERTIFICATE_ARN: CERTIFICATE.replace('eu-central-2', 'us-east-1') })).toThrow(/API_CERTIFICATE_ARN must be the ARN of an ACM certificate in eu-central-2/);
    expect(() => loadConfig({ API_DOMAIN_NAME: 'localhost', API_CERTIFICATE_ARN: CERTIFICATE })).toThrow(/API_DOMAIN_NAME must be a DNS name.*received "localhost"/);
  });

  it('takes the principals allowed to invoke the API as IAM principal ARNs', () => {
    const arns = 'arn:aws:iam::111122223333:role/hospital-engine, arn:aws:iam::123456789012:root';
    expect(loadConfig({ API_ALLOWED_PRINCIPAL_ARNS: arns }).api.allowedPrincipalArns).toEqual(['arn:aws:iam::111122223333:role/hospital-engine', 'arn:aws:iam::123456789012:root']);
    expect(() => loadConfig({ API_ALLOWED_PRINCIPAL_ARNS: '*' })).toThrow(/API_ALLOWED_PRINCIPAL_ARNS must be comma-separated IAM principal ARNs.*received "\*"/);
    expect(() => loadConfig({ API_ALLOWED_PRINCIPAL_ARNS: 'arn:aws:iam::12345:root' })).toThrow(/API_ALLOWED_PRINCIPAL_ARNS must be/);
  });

  it('rejects an API Gateway account setting that is not a boolean', () => {
    expect(() => loadConfig({ API_GATEWAY_ACCOUNT_SETTINGS: 'yes' })).toThrow(/API_GATEWAY_ACCOUNT_SETTINGS must be true or false; received "yes"/);
  });

  it('reports every violation at once', () => {
    let error: unknown;
    try {
      loadConfig({ ENVIRONMENT: 'PROD', AWS_REGION: 'mars-1', SHARD_COUNT: '0', ...ENDPOINT_ACCEPTED });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).violations.map((v) => v.split(' ')[0])).toEqual(['ENVIRONMENT', 'AWS_REGION', 'SHARD_COUNT']);
  });
});

describe('settingsFrom', () => {
  it('prefers environment variables over cdktf context', () => {
    const context: Record<string, string> = { ENVIRONMENT: 'test', SHARD_COUNT: '8' };
    const settings = settingsFrom({ ENVIRONMENT: 'prod' }, (key) => context[key]);
    expect(settings.ENVIRONMENT).toBe('prod');
    expect(settings.SHARD_COUNT).toBe('8');
  });
});

describe('alert delivery settings (issue 12)', () => {
  it('defaults to the "*" facility topic without subscribers, the processor\'s two escalation tiers and 90 days of archive', () => {
    expect(loadConfig({}).alerts).toEqual({
      facilities: { '*': [] },
      escalationTargets: { 'escalation-tier-1': [], 'escalation-tier-2': [] },
      archiveRetentionDays: 90,
    });
  });

  it('parses facility subscriptions with protocols, endpoints and severity filters', () => {
    const alerts = loadConfig({
      ALERT_SUBSCRIPTIONS: JSON.stringify({
        'icu-north': [{ protocol: 'email', endpoint: 'icu@hospital.example' }, { protocol: 'sms', endpoint: '+41790000000', severities: ['high', 'high'] }],
        '*': [{ protocol: 'https', endpoint: 'https://pager.hospital.example/alerts' }],
      }),
      ALERT_ESCALATION_SUBSCRIPTIONS: JSON.stringify({ 'charge-nurse': [{ protocol: 'email', endpoint: 'charge@hospital.example' }] }),
      ALERT_ARCHIVE_RETENTION_DAYS: '30',
    }).alerts;
    expect(alerts.facilities).toEqual({
      '*': [{ protocol: 'https', endpoint: 'https://pager.hospital.example/alerts' }],
      'icu-north': [{ protocol: 'email', endpoint: 'icu@hospital.example' }, { protocol: 'sms', endpoint: '+41790000000', severities: ['high'] }],
    });
    expect(alerts.escalationTargets).toEqual({ 'charge-nurse': [{ protocol: 'email', endpoint: 'charge@hospital.example' }] });
    expect(alerts.archiveRetentionDays).toBe(30);
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['not JSON', { ALERT_SUBSCRIPTIONS: '{icu' }, /ALERT_SUBSCRIPTIONS must be JSON .*received "\{icu"/],
    ['a list instead of an object', { ALERT_SUBSCRIPTIONS: '[]' }, /ALERT_SUBSCRIPTIONS must be a JSON object/],
    ['a facility id with a space', { ALERT_SUBSCRIPTIONS: '{"icu north":[]}' }, /ALERT_SUBSCRIPTIONS keys must be facility ids.*received "icu north"/],
    ['a facility id longer than 32 characters', { ALERT_SUBSCRIPTIONS: `{"${'a'.repeat(33)}":[]}` }, /at most 32 characters/],
    ['two ids naming the same topic', { ALERT_SUBSCRIPTIONS: '{"ward.7":[],"ward_7":[]}' }, /must not differ only by '\.' and '_'.*received "ward\.7, ward_7"/],
    ['plain http', { ALERT_SUBSCRIPTIONS: '{"a":[{"protocol":"http","endpoint":"http://x"}]}' }, /\["a"\] protocol must be email, sms or https; received "http"/],
    ['an http URL for https', { ALERT_SUBSCRIPTIONS: '{"a":[{"protocol":"https","endpoint":"http://x"}]}' }, /https endpoint must be an https:\/\/ URL; received "http:\/\/x"/],
    ['a phone number not in E.164', { ALERT_SUBSCRIPTIONS: '{"a":[{"protocol":"sms","endpoint":"079 000 00 00"}]}' }, /sms endpoint must be an E\.164 phone number/],
    ['an unknown severity', { ALERT_SUBSCRIPTIONS: '{"a":[{"protocol":"email","endpoint":"a@b.example","severities":["critical"]}]}' }, /severities must be a non-empty list of low-medium, medium, high/],
    ['an unknown key', { ALERT_SUBSCRIPTIONS: '{"a":[{"protocol":"email","endpoint":"a@b.example","name":"x"}]}' }, /take only protocol, endpoint and severities; received "name"/],
    ['"*" as an escalation name', { ALERT_ESCALATION_SUBSCRIPTIONS: '{"*":[]}' }, /ALERT_ESCALATION_SUBSCRIPTIONS keys must be escalation routing names.*received "\*"/],
    ['an archive retention of 0', { ALERT_ARCHIVE_RETENTION_DAYS: '0' }, /ALERT_ARCHIVE_RETENTION_DAYS must be an integer from 1 to 3650 days; received "0"/],
  ])('rejects %s, naming the setting, rule and value', (_what, settings, message) => {
    expect(() => loadConfig(settings)).toThrow(message);
  });
});
