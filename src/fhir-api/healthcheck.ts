/**
 * The FHIR service's container health check (`node dist/src/fhir-api/healthcheck.js`): exit 0 when the
 * local `GET /health` over HTTPS answers 200 within the timeout, 1 otherwise. The service's
 * certificate is its own (generated at start-up), so it is not verified on loopback.
 */
import { get } from 'node:https';

const port = Number(process.env.FHIR_PORT ?? '8443');
const TIMEOUT_MS = 3_000;

const req = get({ host: '127.0.0.1', port, path: '/health', timeout: TIMEOUT_MS, rejectUnauthorized: false }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
