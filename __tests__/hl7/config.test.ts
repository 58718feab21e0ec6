import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayConfigError, loadGatewayConfig } from '../../src/hl7/config';

const problems = (env: NodeJS.ProcessEnv): readonly string[] => {
  try {
    loadGatewayConfig(env);
    return [];
  } catch (e) {
    if (e instanceof GatewayConfigError) return e.problems;
    throw e;
  }
};

test('local defaults: loopback, port 2575, TLS off', () => {
  const c = loadGatewayConfig({ STREAM_NAME: 's' });
  expect(c).toMatchObject({ host: '127.0.0.1', port: 2575, tls: { kind: 'off' }, maxMessageBytes: 1_048_576, idleTimeoutMs: 300_000, environment: 'local' });
});

test('production requires the stream name and TLS, listens on every interface, and refuses KINESIS_ENDPOINT', () => {
  expect(problems({ NODE_ENV: 'production', KINESIS_ENDPOINT: 'http://x' })).toEqual([
    'missing environment variable AWS_REGION (required when NODE_ENV=production)',
    'missing environment variable STREAM_NAME (required when NODE_ENV=production)',
    'KINESIS_ENDPOINT must not be set when NODE_ENV=production',
    'TLS is required when NODE_ENV=production: set HL7_TLS_CERT_FILE/HL7_TLS_KEY_FILE or HL7_TLS_SELF_SIGNED=true',
  ]);
  const c = loadGatewayConfig({ NODE_ENV: 'production', AWS_REGION: 'eu-central-2', STREAM_NAME: 's', HL7_TLS_SELF_SIGNED: 'true', ENVIRONMENT: 'dev' });
  expect(c).toMatchObject({ host: '0.0.0.0', tls: { kind: 'self-signed' }, environment: 'dev' });
});

test('certificate files must come in pairs, be readable, and not be combined with a self-signed certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hl7cfg-'));
  const cert = join(dir, 'c.pem');
  writeFileSync(cert, 'x');
  expect(problems({ STREAM_NAME: 's', HL7_TLS_CERT_FILE: cert })).toEqual(['HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE must be set together']);
  expect(problems({ STREAM_NAME: 's', HL7_TLS_CERT_FILE: cert, HL7_TLS_KEY_FILE: join(dir, 'missing.pem'), HL7_TLS_SELF_SIGNED: 'true' })).toEqual([
    'HL7_TLS_SELF_SIGNED=true conflicts with HL7_TLS_CERT_FILE/HL7_TLS_KEY_FILE: choose one',
    `HL7_TLS_KEY_FILE must name a readable file; cannot read ${JSON.stringify(join(dir, 'missing.pem'))}`,
  ]);
  expect(problems({ STREAM_NAME: 's', HL7_TLS_CLIENT_CA_FILE: cert })).toEqual([
    'HL7_TLS_CLIENT_CA_FILE (mutual TLS) needs TLS: set HL7_TLS_CERT_FILE/HL7_TLS_KEY_FILE or HL7_TLS_SELF_SIGNED=true',
  ]);
});

test('every out-of-range or malformed setting is reported at once with its rule and value', () => {
  expect(problems({ STREAM_NAME: 's', HL7_PORT: '70000', HL7_MAX_MESSAGE_BYTES: '10', HL7_LOCAL_TIME_ZONE: 'Mars/Base', HL7_TLS_SELF_SIGNED: 'yes', LOG_LEVEL: 'loud', HL7_ACK_APPLICATION: 'a|b' })).toEqual([
    'HL7_TLS_SELF_SIGNED must be true or false; received "yes"',
    'HL7_LOCAL_TIME_ZONE must be an IANA time zone such as Europe/Zurich; received "Mars/Base"',
    'HL7_ACK_APPLICATION must be 1-64 letters, digits, spaces, \'.\', \'_\' or \'-\'; received "a|b"',
    'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; received "loud"',
    'HL7_PORT must be an integer 0..65535; received "70000"',
    'HL7_MAX_MESSAGE_BYTES must be an integer 1024..16777216; received "10"',
  ]);
});
