import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthChecker } from './health.js';
import type { DaemonMetrics } from './metrics.js';

export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

async function listen(server: Server, addr: string, port: number): Promise<Listener> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (addr === '') server.listen(port, () => resolve());
    else server.listen(port, addr, () => resolve());
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

/** `/healthz`: 200 `OK` when every enabled component is healthy, else 500 with what is not. */
export function serveHealth(health: HealthChecker, addr: string, port: number): Promise<Listener> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/healthz') {
      res.writeHead(404).end('not found\n');
      return;
    }
    const status = health.status();
    const ok = status.every((s) => s.healthy);
    res.writeHead(ok ? 200 : 500, { 'content-type': 'text/plain' });
    res.end((ok ? 'OK\n' : 'Unhealthy\n') + status.map((s) => `${s.healthy ? 'ok  ' : 'FAIL'} ${s.name}: ${s.detail}`).join('\n') + '\n');
  });
  return listen(server, addr, port);
}

export function serveMetrics(metrics: DaemonMetrics, addr: string, port: number, path: string): Promise<Listener> {
  const server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== path) {
      res.writeHead(404).end('not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      },
      (e: unknown) => {
        res.writeHead(500).end(String(e));
      },
    );
  });
  return listen(server, addr, port);
}
