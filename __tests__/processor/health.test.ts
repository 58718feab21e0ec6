import { get } from 'node:http';
import { startHealthServer } from '../../src/processor/health';

function status(port: number, path = '/health'): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

test('GET /health answers 200 while the check passes and 503 when it fails', async () => {
  let ok = true;
  const server = await startHealthServer(0, async () => ok, '127.0.0.1');
  try {
    expect(await status(server.port)).toBe(200);
    ok = false;
    expect(await status(server.port)).toBe(503);
  } finally {
    await server.close();
  }
});

test('a check that throws counts as unhealthy', async () => {
  const server = await startHealthServer(0, async () => {
    throw new Error('db down');
  }, '127.0.0.1');
  try {
    expect(await status(server.port)).toBe(503);
  } finally {
    await server.close();
  }
});

test('other paths are not found', async () => {
  const server = await startHealthServer(0, async () => true, '127.0.0.1');
  try {
    expect(await status(server.port, '/metrics')).toBe(404);
  } finally {
    await server.close();
  }
});
