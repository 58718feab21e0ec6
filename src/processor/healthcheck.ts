/**
 * The container health check (`node dist/src/processor/healthcheck.js`): exit 0 when the local
 * GET /health answers 200 within the timeout, 1 otherwise. No dependencies, so it starts fast.
 */
import { get } from 'node:http';

const port = Number(process.env.HEALTH_PORT ?? '8080');
const TIMEOUT_MS = 3_000;

const req = get({ host: '127.0.0.1', port, path: '/health', timeout: TIMEOUT_MS }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
