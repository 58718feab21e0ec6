/** The requeue command's flags and environment: each rule rejects with flag/variable, rule and received value. */
import { parseRequeueArgs, requeueEnvironmentFrom } from '../../src/db/requeue-args';
import { main, partitionKeyFor, putRecordsBatches, PUT_RECORDS_MAX_BYTES } from '../../src/db/requeue-dead-letters';

const LOCAL_ENV = {
  DB_HOST: 'localhost',
  DB_NAME: 'vitals',
  DB_SSL_CA_FILE: '/tmp/ca.pem',
  DB_AUTH: 'password',
  DB_PASSWORD: 'secret',
};
const AWS_ENV = {
  NODE_ENV: 'production',
  AWS_REGION: 'eu-central-2',
  DB_HOST: 'vitals.cluster-x.eu-central-2.rds.amazonaws.com',
  DB_PORT: '5432',
  DB_NAME: 'vitals',
  DB_SSL_CA_FILE: '/app/certs/rds-global-bundle.pem',
  DB_AUTH: 'iam',
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

test('a local environment logs in as the ops role with a password', () => {
  expect(requeueEnvironmentFrom(LOCAL_ENV).db).toMatchObject({
    host: 'localhost', port: 5432, database: 'vitals', sslCaFile: '/tmp/ca.pem', user: 'vitals_ops', auth: { kind: 'password', password: 'secret' },
  });
});

test('on AWS the command logs in as the ops role with IAM authentication', () => {
  expect(requeueEnvironmentFrom(AWS_ENV).db).toMatchObject({ user: 'vitals_ops', auth: { kind: 'iam', region: 'eu-central-2' } });
});

test('production refuses password authentication', () => {
  expect(() => requeueEnvironmentFrom({ ...AWS_ENV, DB_AUTH: 'password', DB_PASSWORD: 'x' })).toThrow(/DB_AUTH must be iam when NODE_ENV=production/);
});

test('admin credentials, keys and the stream are refused: the command only requests requeues', () => {
  const env = { ...AWS_ENV, DB_ADMIN_USER: 'postgres', DB_ADMIN_PASSWORD: 'x', PHI_KMS_KEY_ARN: 'arn:aws:kms:eu-central-2:123456789012:key/k', STREAM_NAME: 's' };
  expect(() => requeueEnvironmentFrom(env)).toThrow(/DB_ADMIN_USER must not be set.*DB_ADMIN_PASSWORD must not be set.*PHI_KMS_KEY_ARN must not be set.*STREAM_NAME must not be set/);
});

test('every missing variable is named at once', () => {
  expect(() => requeueEnvironmentFrom({ NODE_ENV: 'production' })).toThrow(/AWS_REGION.*DB_PORT.*DB_AUTH.*DB_HOST.*DB_NAME.*DB_SSL_CA_FILE/);
});

test('a bad port is rejected with its value', () => {
  expect(() => requeueEnvironmentFrom({ ...AWS_ENV, DB_PORT: '99999' })).toThrow(/DB_PORT must be a port number.*"99999"/);
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
  expect(out.problems.join('\n')).toMatch(/--reason must be one of[\s\S]*missing environment variable DB_HOST/);
});
