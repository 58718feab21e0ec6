/** The requeue command's flags and environment: each rule rejects with flag/variable, rule and received value. */
import { parseRequeueArgs, requeueEnvironmentFrom } from '../../src/db/requeue-args';
import { main, partitionKeyFor, putRecordsBatches, PUT_RECORDS_MAX_BYTES } from '../../src/db/requeue-dead-letters';

const LOCAL_ENV = {
  STREAM_NAME: 'vitals-events-dev',
  DB_HOST: 'localhost',
  DB_NAME: 'vitals',
  DB_SSL_CA_FILE: '/tmp/ca.pem',
  DB_ADMIN_USER: 'admin',
  DB_ADMIN_PASSWORD: 'secret',
};
const AWS_ENV = {
  ...LOCAL_ENV,
  NODE_ENV: 'production',
  AWS_REGION: 'eu-central-2',
  DB_PORT: '5432',
  PHI_KMS_KEY_ARN: 'arn:aws:kms:eu-central-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
};

test('no flags select every reason, without bounds or limit, for real', () => {
  expect(parseRequeueArgs([])).toEqual({ reason: undefined, since: undefined, until: undefined, limit: undefined, dryRun: false });
});

test('all flags are parsed', () => {
  expect(parseRequeueArgs(['--reason', 'invalid', '--since', '2026-11-01T00:00:00Z', '--until', '2026-11-02', '--limit', '50', '--dry-run'])).toEqual({
    reason: 'invalid',
    since: new Date('2026-11-01T00:00:00Z'),
    until: new Date('2026-11-02T00:00:00Z'),
    limit: 50,
    dryRun: true,
  });
});

test('an unknown reason is rejected naming the allowed ones', () => {
  expect(() => parseRequeueArgs(['--reason', 'bad'])).toThrow(/--reason must be one of undecodable, invalid, future-timestamp, unprocessable; received "bad"/);
});

test('a time that is not ISO 8601 is rejected', () => {
  expect(() => parseRequeueArgs(['--since', 'yesterday'])).toThrow(/--since must be an ISO 8601 date or time.*received "yesterday"/);
  expect(() => parseRequeueArgs(['--until', '2026-13-45'])).toThrow(/--until must be an ISO 8601/);
});

test('--since must come before --until', () => {
  expect(() => parseRequeueArgs(['--since', '2026-11-02', '--until', '2026-11-01'])).toThrow(/--since must be before --until/);
});

test('a limit that is not a positive integer is rejected', () => {
  for (const bad of ['0', '-1', '1.5', 'ten']) expect(() => parseRequeueArgs([`--limit=${bad}`])).toThrow(/--limit must be an integer 1\.\.\d+; received/);
});

test('an unknown flag is rejected naming the known ones', () => {
  expect(() => parseRequeueArgs(['--force'])).toThrow(/--force.*flags: --reason, --since, --until, --limit, --dry-run/);
});

test('every flag problem is reported at once', () => {
  expect(() => parseRequeueArgs(['--reason', 'x', '--limit', '0'])).toThrow(/--reason.*; --limit/);
});

test('a local environment uses the local key file and the kinesalite endpoint', () => {
  const env = requeueEnvironmentFrom({ ...LOCAL_ENV, KINESIS_ENDPOINT: 'http://127.0.0.1:4567', PHI_LOCAL_KEY_FILE: '/k' });
  expect(env).toMatchObject({ streamName: 'vitals-events-dev', region: 'eu-central-2', kinesisEndpoint: 'http://127.0.0.1:4567', phi: { kind: 'local', keyFile: '/k' } });
  expect(env.db).toEqual({ host: 'localhost', port: 5432, database: 'vitals', sslCaFile: '/tmp/ca.pem', adminUser: 'admin', adminPassword: 'secret' });
});

test('on AWS the PHI key is the KMS key', () => {
  expect(requeueEnvironmentFrom(AWS_ENV).phi).toEqual({ kind: 'kms', phiKeyArn: AWS_ENV.PHI_KMS_KEY_ARN });
});

test('production requires the KMS key and forbids the local key file and endpoint', () => {
  const env = { ...AWS_ENV, PHI_KMS_KEY_ARN: undefined, PHI_LOCAL_KEY_FILE: '/k', KINESIS_ENDPOINT: 'http://x' };
  expect(() => requeueEnvironmentFrom(env)).toThrow(/PHI_LOCAL_KEY_FILE must not be set.*KINESIS_ENDPOINT must not be set.*missing environment variable PHI_KMS_KEY_ARN/);
});

test('every missing variable is named at once', () => {
  expect(() => requeueEnvironmentFrom({ NODE_ENV: 'production' })).toThrow(
    /STREAM_NAME.*AWS_REGION.*DB_PORT.*DB_HOST.*DB_NAME.*DB_SSL_CA_FILE.*DB_ADMIN_USER.*DB_ADMIN_PASSWORD.*PHI_KMS_KEY_ARN/,
  );
});

test('a PHI key that is not a KMS ARN and a bad port are rejected', () => {
  expect(() => requeueEnvironmentFrom({ ...AWS_ENV, PHI_KMS_KEY_ARN: 'my-key', DB_PORT: '99999' })).toThrow(/DB_PORT must be a port number.*"99999".*PHI_KMS_KEY_ARN must be a KMS key or alias ARN; received "my-key"/);
});

test('the partition key is the device id of a JSON event', () => {
  expect(partitionKeyFor('1', Buffer.from(JSON.stringify({ deviceId: 'monitor-3', patientId: 'MRN-1' })))).toBe('monitor-3');
});

test('the partition key of a payload without a device id is a stable hash of the dead letter id', () => {
  const a = partitionKeyFor('42', Buffer.from('not json'));
  expect(a).toMatch(/^dead-letter-[0-9a-f]{32}$/);
  expect(partitionKeyFor('42', Buffer.from('{"deviceId": 7}'))).toBe(a);
  expect(partitionKeyFor('43', Buffer.from('[]'))).not.toBe(a);
});

test('PutRecords batches stay within 500 entries and 5 MiB', () => {
  const small = Array.from({ length: 1_201 }, () => ({ data: Buffer.alloc(10), partitionKey: 'k' }));
  expect(putRecordsBatches(small).map((b) => b.length)).toEqual([500, 500, 201]);
  const big = Array.from({ length: 11 }, () => ({ data: Buffer.alloc(1024 * 1024 - 10), partitionKey: 'k' }));
  const batches = putRecordsBatches(big);
  expect(batches.map((b) => b.length)).toEqual([5, 5, 1]);
  for (const b of batches) expect(b.reduce((n, e) => n + e.data.length + 1, 0)).toBeLessThanOrEqual(PUT_RECORDS_MAX_BYTES);
});

test('the command reports flag and environment problems together, exits 1 and touches nothing', async () => {
  const lines: string[] = [];
  const code = await main(['--reason', 'nope'], { NODE_ENV: 'production' }, (line) => lines.push(line));
  expect(code).toBe(1);
  expect(lines).toHaveLength(1);
  const out = JSON.parse(lines[0] as string) as { level: string; problems: string[] };
  expect(out.level).toBe('fatal');
  expect(out.problems.join('\n')).toMatch(/--reason must be one of[\s\S]*missing environment variable STREAM_NAME/);
});
