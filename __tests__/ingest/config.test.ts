import { IngestConfigError, loadIngestConfig } from '../../src/ingest/config';

const BASE = { STREAM_NAME: 'vitals-events-dev', INGEST_API_KEYS: 'key-one, key-two' };

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadIngestConfig(env);
  } catch (err) {
    if (err instanceof IngestConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadIngestConfig', () => {
  it('applies loopback and contract defaults', () => {
    expect(loadIngestConfig(BASE)).toEqual({
      host: '127.0.0.1', port: 3000, region: 'eu-central-2', streamName: 'vitals-events-dev',
      apiKeys: ['key-one', 'key-two'], burst: 500, ratePerSec: 100, maxBodyBytes: 5 * 1024 * 1024, requestTimeoutMs: 30_000, logLevel: 'info',
    });
  });

  it('reads every setting from its variable', () => {
    const c = loadIngestConfig({
      ...BASE, INGEST_HOST: '0.0.0.0', INGEST_PORT: '0', AWS_REGION: 'eu-west-1', KINESIS_ENDPOINT: 'http://127.0.0.1:4567',
      INGEST_BURST: '10', INGEST_RATE_PER_SEC: '2.5', INGEST_MAX_BODY_BYTES: '1024', INGEST_REQUEST_TIMEOUT_MS: '5000', LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      host: '0.0.0.0', port: 0, region: 'eu-west-1', kinesisEndpoint: 'http://127.0.0.1:4567',
      burst: 10, ratePerSec: 2.5, maxBodyBytes: 1024, requestTimeoutMs: 5000, logLevel: 'debug',
    });
  });

  it('reports every missing variable at once', () => {
    expect(problemsOf({})).toEqual([
      'missing environment variable STREAM_NAME',
      'missing environment variable INGEST_API_KEYS (comma-separated API keys)',
    ]);
  });

  it('refuses a request timeout outside 1000..300000 ms', () => {
    expect(() => loadIngestConfig({ ...BASE, INGEST_REQUEST_TIMEOUT_MS: '10' })).toThrow(/INGEST_REQUEST_TIMEOUT_MS must be an integer 1000..300000; received "10"/);
  });

  it('throws an IngestConfigError naming the variable', () => {
    expect(() => loadIngestConfig({ ...BASE, INGEST_PORT: '70000' })).toThrow(/INGEST_PORT must be an integer 0..65535; received "70000"/);
  });

  it.each([
    ['INGEST_BURST', '0'], ['INGEST_BURST', '1.5'], ['INGEST_RATE_PER_SEC', '0'], ['INGEST_RATE_PER_SEC', 'fast'],
    ['INGEST_MAX_BODY_BYTES', String(11 * 1024 * 1024)], ['KINESIS_ENDPOINT', 'localhost:4567'], ['LOG_LEVEL', 'loud'],
  ])('rejects %s=%s', (name, value) => {
    expect(problemsOf({ ...BASE, [name]: value })).toEqual([expect.stringContaining(name)]);
  });

  it('treats a key list of only commas as missing and never prints key values', () => {
    const problems = problemsOf({ STREAM_NAME: 's', INGEST_API_KEYS: ' , ,' });
    expect(problems).toEqual(['missing environment variable INGEST_API_KEYS (comma-separated API keys)']);
    expect(problemsOf({ ...BASE, INGEST_PORT: 'x' }).join(' ')).not.toMatch(/key-one|key-two/);
  });
});
