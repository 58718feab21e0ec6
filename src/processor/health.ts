/**
 * GET /health: the processor's own view of itself, as JSON `{status, reasons}`.
 * - `ok` (200): leases renewed on time, no shard stalled.
 * - `degraded` (200): the database has been unreachable (no lease renewal) for longer than
 *   DB_UNREACHABLE_DEGRADED_MS. Still 200 on purpose: replacing the task cannot bring the database
 *   back, and failing every task's check at once would make ECS cycle the whole service during a
 *   failover. The processor reconnects by itself and reports `ok` again once a renewal succeeds.
 * - `unhealthy` (503): shutting down, a shard stalled on retries beyond SHARD_STALL_UNHEALTHY_MS, or
 *   the database unreachable for as long: then a fresh task is worth trying, and ECS replaces it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type HealthStatus = 'ok' | 'degraded' | 'unhealthy';

export interface HealthReport {
  readonly status: HealthStatus;
  /** Why it is not `ok` (no identifiers beyond shard ids). */
  readonly reasons: readonly string[];
}

/** 503 only for `unhealthy`: the container check (exit 0 on 200) then fails and ECS replaces the task. */
export function httpStatusOf(report: HealthReport): number {
  return report.status === 'unhealthy' ? 503 : 200;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(port: number, check: () => Promise<HealthReport> | HealthReport, host = '0.0.0.0'): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/health') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"status":"not found"}');
      return;
    }
    Promise.resolve()
      .then(check)
      .then(
        (report) => res.writeHead(httpStatusOf(report), { 'content-type': 'application/json' }).end(JSON.stringify(report)),
        () => res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"unhealthy","reasons":["health check failed"]}'),
      );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
