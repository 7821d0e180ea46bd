import { KubeConfig, Watch } from '@kubernetes/client-node';
import fetch from 'node-fetch';
import { ErrorCode, KubeRouterError } from '../util/errors.js';

export interface ListResult {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
}

export interface WatchHandle {
  abort(): void;
}

/** How the reflector reaches the API: LIST and WATCH of one collection path. */
export interface ApiTransport {
  list(path: string, params: Readonly<Record<string, string>>): Promise<ListResult>;
  /** Streams events; `onDone(err)` is called once when the stream ends (null error: closed normally). */
  watch(path: string, params: Readonly<Record<string, string>>, onEvent: (type: string, obj: unknown) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
  /** The server URL, for log lines. */
  readonly server: string;
}

export interface ClientSettings {
  readonly kubeconfig: string;
  readonly master: string;
}

/**
 * Upstream's precedence: a kubeconfig file if given; otherwise in-cluster configuration. `--master`
 * overrides the server either way.
 */
export function loadKubeConfig(s: ClientSettings): KubeConfig {
  const kc = new KubeConfig();
  if (s.kubeconfig !== '') kc.loadFromFile(s.kubeconfig);
  else if (s.master !== '' && !process.env['KUBERNETES_SERVICE_HOST']) {
    kc.loadFromClusterAndUser({ name: 'master', server: s.master, skipTLSVerify: false }, { name: 'anonymous' });
  } else kc.loadFromCluster();
  if (s.master !== '') {
    const cluster = kc.getCurrentCluster();
    if (cluster) {
      const clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: s.master } : c));
      kc.loadFromOptions({ clusters, users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
    }
  }
  if (!kc.getCurrentCluster()) throw new KubeRouterError(ErrorCode.Config, 'no Kubernetes cluster configured: pass --kubeconfig or --master, or run in a pod');
  return kc;
}

export class KubeTransport implements ApiTransport {
  private readonly watcher: Watch;
  readonly server: string;
  constructor(private readonly kc: KubeConfig) {
    this.watcher = new Watch(kc);
    this.server = kc.getCurrentCluster()?.server ?? '';
  }

  async list(path: string, params: Readonly<Record<string, string>>): Promise<ListResult> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const init = await this.kc.applyToFetchOptions({});
    const res = await fetch(url.toString(), { ...init, method: 'GET', timeout: 60_000 });
    const text = await res.text();
    if (res.status !== 200) {
      throw new KubeRouterError(res.status === 410 ? ErrorCode.Gone : ErrorCode.ApiError, `LIST ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, { status: res.status });
    }
    const body: unknown = JSON.parse(text);
    if (body === null || typeof body !== 'object') throw new KubeRouterError(ErrorCode.ParseError, `LIST ${path}: not an object`);
    const items = (body as Record<string, unknown>)['items'];
    const meta = (body as Record<string, unknown>)['metadata'];
    const rv = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>)['resourceVersion'] : undefined;
    return { items: Array.isArray(items) ? items : [], resourceVersion: typeof rv === 'string' ? rv : '' };
  }

  async watch(path: string, params: Readonly<Record<string, string>>, onEvent: (type: string, obj: unknown) => void, onDone: (err: unknown) => void): Promise<WatchHandle> {
    const controller = await this.watcher.watch(path, params, (type: string, obj: unknown) => onEvent(type, obj), (err: unknown) => onDone(err ?? null));
    return { abort: () => controller.abort() };
  }
}
