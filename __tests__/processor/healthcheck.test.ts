/**
 * The container health check command (`node dist/src/processor/healthcheck.js`: the image's
 * HEALTHCHECK and the task definition's healthCheck), run as a process against a local server.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO_ROOT = join(__dirname, '..', '..');
let server: Server;
let status = 200;
let port = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    res.statusCode = req.url === '/health' ? status : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Exit code of the health check run with HEALTH_PORT=healthPort. */
async function exitCode(healthPort: number): Promise<number> {
  try {
    await run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/processor/healthcheck.ts'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HEALTH_PORT: String(healthPort) },
      timeout: 20_000,
    });
    return 0;
  } catch (e) {
    return (e as { code: number }).code;
  }
}

test('exits 0 when the processor on HEALTH_PORT answers 200', async () => {
  status = 200;
  expect(await exitCode(port)).toBe(0);
});

test('exits 1 when the processor answers 503', async () => {
  status = 503;
  expect(await exitCode(port)).toBe(1);
});

test('exits 1 when nothing listens on HEALTH_PORT', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const freePort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  status = 200;
  expect(await exitCode(freePort)).toBe(1);
});
