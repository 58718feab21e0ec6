import { FhirApiConfigError, loadFhirApiConfig } from '../../src/fhir-api/config';

const problems = (env: NodeJS.ProcessEnv): readonly string[] => {
  try {
    loadFhirApiConfig(env);
    return [];
  } catch (e) {
    if (e instanceof FhirApiConfigError) return e.problems;
    throw e;
  }
};

test('local defaults: loopback, port 8080, the reader role with a password', () => {
  expect(loadFhirApiConfig({ DB_HOST: 'h', DB_NAME: 'd', DB_SSL_CA_FILE: 'ca', DB_PASSWORD: 'p' })).toMatchObject({
    host: '127.0.0.1', port: 8080, db: { user: 'vitals_fhir_reader', auth: { kind: 'password' }, maxConnections: 10 },
  });
});

test('production needs IAM auth and the public base URL, and listens on every interface', () => {
  expect(problems({ NODE_ENV: 'production', AWS_REGION: 'eu-central-2', DB_HOST: 'h', DB_NAME: 'd', DB_USER: 'vitals_fhir_reader', DB_SSL_CA_FILE: 'ca', DB_AUTH: 'password', DB_PASSWORD: 'p' })).toEqual([
    'DB_AUTH must be iam when NODE_ENV=production (no database password on AWS)',
    'missing environment variable FHIR_BASE_URL (required when NODE_ENV=production)',
    'FHIR_TLS_SELF_SIGNED must be true when NODE_ENV=production (TLS from the load balancer to the task)',
  ]);
  const c = loadFhirApiConfig({ NODE_ENV: 'production', AWS_REGION: 'eu-central-2', DB_HOST: 'h', DB_NAME: 'd', DB_USER: 'vitals_fhir_reader', DB_SSL_CA_FILE: 'ca', DB_AUTH: 'iam', FHIR_TLS_SELF_SIGNED: 'true', FHIR_BASE_URL: 'https://x.execute-api.eu-central-2.amazonaws.com/v1/fhir' });
  expect(c).toMatchObject({ host: '0.0.0.0', tlsSelfSigned: true, db: { auth: { kind: 'iam', region: 'eu-central-2' } }, baseUrl: 'https://x.execute-api.eu-central-2.amazonaws.com/v1/fhir' });
});

test('every problem is named at once', () => {
  expect(problems({ FHIR_PORT: 'x', FHIR_BASE_URL: 'ftp://x/', DB_AUTH: 'kerberos' })).toEqual([
    'DB_AUTH must be iam or password; received "kerberos"',
    'FHIR_BASE_URL must be an http(s) URL without a trailing slash; received "ftp://x/"',
    'FHIR_PORT must be an integer 0..65535; received "x"',
    'missing environment variable DB_HOST',
    'missing environment variable DB_NAME',
    'missing environment variable DB_SSL_CA_FILE',
  ]);
});

test('without ALERT_ACK_DB_HOST there is no acknowledge route', () => {
  expect(loadFhirApiConfig({ DB_HOST: 'h', DB_NAME: 'd', DB_SSL_CA_FILE: 'ca', DB_PASSWORD: 'p' }).acknowledge).toBeUndefined();
});

test('ALERT_ACK_DB_HOST adds the acknowledging pool: the writer, as vitals_alert_acker, IAM on AWS', () => {
  const c = loadFhirApiConfig({
    NODE_ENV: 'production', AWS_REGION: 'eu-central-2', DB_HOST: 'reader', DB_NAME: 'd', DB_USER: 'vitals_fhir_reader', DB_SSL_CA_FILE: 'ca', DB_AUTH: 'iam',
    FHIR_TLS_SELF_SIGNED: 'true', FHIR_BASE_URL: 'https://x.execute-api.eu-central-2.amazonaws.com/v1/fhir', ALERT_ACK_DB_HOST: 'writer',
  });
  expect(c.acknowledge?.db).toMatchObject({ host: 'writer', user: 'vitals_alert_acker', auth: { kind: 'iam', region: 'eu-central-2' }, maxConnections: 2, database: 'd' });
  expect(c.db.host).toBe('reader');
});

test('locally the acknowledging pool needs its own password', () => {
  expect(problems({ DB_HOST: 'h', DB_NAME: 'd', DB_SSL_CA_FILE: 'ca', DB_PASSWORD: 'p', ALERT_ACK_DB_HOST: 'h' })).toEqual([
    'missing environment variable ALERT_ACK_DB_PASSWORD (required with ALERT_ACK_DB_HOST and DB_AUTH=password)',
  ]);
  expect(loadFhirApiConfig({ DB_HOST: 'h', DB_NAME: 'd', DB_SSL_CA_FILE: 'ca', DB_PASSWORD: 'p', ALERT_ACK_DB_HOST: 'h', ALERT_ACK_DB_PASSWORD: 'q' }).acknowledge?.db.auth)
    .toEqual({ kind: 'password', password: 'q' });
});
