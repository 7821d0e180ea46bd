import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { fileURLToPath } from 'node:url';
import { ErrorCode, KubeRouterError } from '../util/errors.js';
import { asRecord, asString } from '../util/json.js';
import type { KubeConfigLike } from './transport.js';

interface Resolved {
  readonly server: string;
  readonly skipTLSVerify: boolean;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly headers: Record<string, string>;
  readonly basicAuth?: string;
  readonly tokenFile?: string;
}

/** How often a service-account token file is re-read (kubelet rotates projected tokens). */
const TOKEN_REFRESH_MS = 60_000;

/**
 * The connection settings of a kubeconfig, resolved by client-node in a child process
 * (kubeconfig-resolve.ts), in the shape client-node's Watch and our LIST use. Service-account token
 * files are re-read every minute; `refresh()` resolves again (after a 401, for expiring tokens).
 */
export class ResolvedKubeConfig implements KubeConfigLike {
  private resolved: Resolved;
  private agent: HttpAgent | HttpsAgent;
  private token: { value: string; readAt: number } | undefined;

  constructor(private readonly settings: { kubeconfig: string; master: string }) {
    this.resolved = ResolvedKubeConfig.resolve(settings);
    this.agent = this.makeAgent();
  }

  private static argv(s: { kubeconfig: string; master: string }): string[] {
    const script = fileURLToPath(new URL('../../cmd/kubeconfig-resolve.js', import.meta.url));
    return [script, ...(s.kubeconfig ? ['--kubeconfig', s.kubeconfig] : []), ...(s.master ? ['--master', s.master] : [])];
  }

  /** At start only (before anything runs): synchronous, so a bad kubeconfig fails start-up at once. */
  private static resolve(s: { kubeconfig: string; master: string }): Resolved {
    const r = spawnSync(process.execPath, ResolvedKubeConfig.argv(s), { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new KubeRouterError(ErrorCode.Config, `cannot load the Kubernetes client configuration: ${(r.stderr || r.error?.message || '').trim()}`);
    return ResolvedKubeConfig.parse(r.stdout);
  }

  private static parse(stdout: string): Resolved {
    const j = asRecord(JSON.parse(stdout) as unknown) ?? {};
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(asRecord(j['headers']) ?? {})) if (typeof v === 'string') headers[k] = v;
    const opt = (k: string): string | undefined => asString(j[k]);
    return {
      server: opt('server') ?? '',
      skipTLSVerify: j['skipTLSVerify'] === true,
      headers,
      ...(opt('ca') ? { ca: opt('ca') as string } : {}),
      ...(opt('cert') ? { cert: opt('cert') as string } : {}),
      ...(opt('key') ? { key: opt('key') as string } : {}),
      ...(opt('servername') ? { servername: opt('servername') as string } : {}),
      ...(opt('basicAuth') ? { basicAuth: opt('basicAuth') as string } : {}),
      ...(opt('tokenFile') ? { tokenFile: opt('tokenFile') as string } : {}),
    };
  }

  private makeAgent(): HttpAgent | HttpsAgent {
    const r = this.resolved;
    if (r.server.startsWith('http://')) return new HttpAgent({ keepAlive: true });
    const buf = (v: string | undefined): Buffer | undefined => (v ? Buffer.from(v, 'base64') : undefined);
    const ca = buf(r.ca);
    const cert = buf(r.cert);
    const key = buf(r.key);
    return new HttpsAgent({ keepAlive: true, rejectUnauthorized: !r.skipTLSVerify, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(r.servername ? { servername: r.servername } : {}) });
  }

  private refreshing = false;

  /**
   * Resolves the kubeconfig again (new tokens from exec or OIDC plugins, rotated certificates), in the
   * background: a 401 never blocks the event loop (the child may take up to 60 s); requests keep the
   * old credentials until the new ones are in, and one refresh runs at a time.
   */
  refresh(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    execFile(process.execPath, ResolvedKubeConfig.argv(this.settings), { encoding: 'utf8', timeout: 60_000 }, (err, stdout) => {
      this.refreshing = false;
      if (err) return;
      try {
        this.resolved = ResolvedKubeConfig.parse(stdout);
        this.agent = this.makeAgent();
        this.token = undefined;
      } catch {
        // keep the credentials we have; the next 401 tries again
      }
    });
  }

  getCurrentCluster(): { name: string; server: string; skipTLSVerify: boolean } {
    return { name: 'resolved', server: this.resolved.server, skipTLSVerify: this.resolved.skipTLSVerify };
  }

  applyToFetchOptions(): Promise<{ agent: HttpAgent | HttpsAgent; headers: Record<string, string> }> {
    const headers = { ...this.resolved.headers };
    if (this.resolved.tokenFile) {
      const now = Date.now();
      if (!this.token || now - this.token.readAt > TOKEN_REFRESH_MS) {
        try {
          this.token = { value: readFileSync(this.resolved.tokenFile, 'utf8').trim(), readAt: now };
        } catch {
          // keep the token we have; the next request tries again
        }
      }
      if (this.token) headers['Authorization'] = `Bearer ${this.token.value}`;
    }
    if (this.resolved.basicAuth) headers['Authorization'] = `Basic ${Buffer.from(this.resolved.basicAuth).toString('base64')}`;
    return Promise.resolve({ agent: this.agent, headers });
  }
}
