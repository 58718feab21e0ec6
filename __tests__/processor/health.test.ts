import { get } from 'node:http';
import { startHealthServer, type HealthReport } from '../../src/processor/health';

function fetchHealth(port: number, path = '/health'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('GET /health answers 200 when ok, 200 with the reasons when degraded, and 503 when unhealthy', async () => {
  let report: HealthReport = { status: 'ok', reasons: [] };
  const server = await startHealthServer(0, () => report, '127.0.0.1');
  try {
    expect(await fetchHealth(server.port)).toEqual({ status: 200, body: '{"status":"ok","reasons":[]}' });
    report = { status: 'degraded', reasons: ['database unreachable for 12000 ms (no lease renewal); retrying'] };
    const degraded = await fetchHealth(server.port);
    expect(degraded.status).toBe(200);
    expect(JSON.parse(degraded.body)).toEqual(report);
    report = { status: 'unhealthy', reasons: ['shutting down'] };
    expect((await fetchHealth(server.port)).status).toBe(503);
  } finally {
    await server.close();
  }
});

test('a check that throws counts as unhealthy', async () => {
  const server = await startHealthServer(0, async () => {
    throw new Error('db down');
  }, '127.0.0.1');
  try {
    expect((await fetchHealth(server.port)).status).toBe(503);
  } finally {
    await server.close();
  }
});

test('other paths are not found', async () => {
  const server = await startHealthServer(0, () => ({ status: 'ok', reasons: [] }), '127.0.0.1');
  try {
    expect((await fetchHealth(server.port, '/metrics')).status).toBe(404);
  } finally {
    await server.close();
  }
});
