import { createServer, type Server } from 'node:http';
import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/errors.js';

export interface HealthCheckTarget {
  readonly namespace: string;
  readonly name: string;
  readonly localEndpoints: number;
}

/**
 * healthCheckNodePort listeners for LoadBalancer services with externalTrafficPolicy Local: 200 while
 * this node has a ready local endpoint, 503 otherwise, with kube-proxy's JSON body, so a cloud load
 * balancer only sends traffic to nodes that can serve it.
 */
export class HealthCheckServers {
  private readonly servers = new Map<number, { server: Server; target: HealthCheckTarget }>();

  constructor(private readonly logger: Logger) {}

  async update(desired: ReadonlyMap<number, HealthCheckTarget>): Promise<void> {
    for (const [port, s] of [...this.servers]) {
      if (!desired.has(port)) {
        this.servers.delete(port);
        await new Promise<void>((r) => s.server.close(() => r()));
      }
    }
    for (const [port, target] of desired) {
      const cur = this.servers.get(port);
      if (cur) {
        cur.target = target;
        continue;
      }
      const entry = { server: createServer(), target };
      entry.server.on('request', (_req, res) => {
        const t = entry.target;
        res.writeHead(t.localEndpoints > 0 ? 200 : 503, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
        res.end(JSON.stringify({ service: { namespace: t.namespace, name: t.name }, localEndpoints: t.localEndpoints }));
      });
      try {
        await new Promise<void>((resolve, reject) => {
          entry.server.once('error', reject);
          entry.server.listen(port, () => resolve());
        });
        this.servers.set(port, entry);
      } catch (e) {
        this.logger.error('cannot open health check node port', { port, service: `${target.namespace}/${target.name}`, error: errorMessage(e) });
      }
    }
  }

  async close(): Promise<void> {
    await this.update(new Map());
  }
}
