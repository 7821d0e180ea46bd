import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname } from 'node:path';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

/** Answers one inspection request (GET PATH?QUERY) with a JSON-able value. */
export type InspectHandler = (query: URLSearchParams) => Promise<unknown>;

/** How long one inspection may take before the client gets a 504. */
const INSPECT_TIMEOUT_MS = 30_000;

/**
 * The daemon's local, read-only inspection socket (a unix socket: nothing on the network): each
 * controller contributes paths (`/proxy/services`, `/routes`, `/bgp/peers`, ...), `kube-router
 * proxy|routes|bgp` read them. Requests are answered one at a time per path, each within a budget.
 */
export class InspectionServer {
  private readonly handlers = new Map<string, InspectHandler>();
  private server: Server | undefined;

  constructor(private readonly logger: Logger) {}

  register(path: string, handler: InspectHandler): void {
    this.handlers.set(path, handler);
  }

  paths(): string[] {
    return [...this.handlers.keys()].sort();
  }

  async start(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true });
    rmSync(socketPath, { force: true });
    const server = createServer((req, res) => {
      const send = (code: number, body: unknown): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body, null, 2) + '\n');
      };
      const url = new URL(req.url ?? '/', 'http://local');
      const handler = req.method === 'GET' ? this.handlers.get(url.pathname) : undefined;
      if (!handler) return send(404, { error: `GET one of: ${this.paths().join(', ')}` });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${INSPECT_TIMEOUT_MS} ms`)), INSPECT_TIMEOUT_MS);
      });
      Promise.race([handler(url.searchParams), timeout]).then(
        (body) => send(200, body),
        (e: unknown) => {
          this.logger.v(1, 'inspection failed', { path: url.pathname, error: errorMessage(e) });
          send(500, { error: errorMessage(e) });
        },
      ).finally(() => clearTimeout(timer));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
