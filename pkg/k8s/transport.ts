// Watch from its own module: the package index loads the whole generated API (~75 MiB resident).
import { Watch } from '@kubernetes/client-node/dist/watch.js';
import type { KubeConfig } from '@kubernetes/client-node';
import fetch from 'node-fetch';
import { ErrorCode, KubeRouterError } from '../util/errors.js';

export interface ListResult {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  /** Set when there are more pages (LIST with `limit`). */
  readonly continue?: string;
}

export interface WatchHandle {
  abort(): void;
}

/** How the reflector reaches the API: LIST and WATCH of one collection path. */
export interface ApiTransport {
  list(path: string, params: Readonly<Record<string, string>>): Promise<ListResult>;
  /** Streams events; `onDone(err)` is called once when the stream ends (null error: closed normally). */
  watch(path: string, params: Readonly<Record<string, string>>, onEvent: (type: string, obj: unknown) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
  /** POSTs one object to a collection path (Events); resolves with the HTTP status. Never retried here. */
  create(path: string, body: unknown): Promise<number>;
  /** One JSON request (Leases, Service status); resolves with the status and the parsed body. Never retried here. */
  request(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ readonly status: number; readonly body: unknown }>;
  /** The server URL, for log lines. */
  readonly server: string;
}

/**
 * What the transport needs of a Kubernetes client configuration: client-node's KubeConfig has these
 * two methods, and so does ResolvedKubeConfig (the daemon's lighter stand-in).
 */
export interface KubeConfigLike {
  getCurrentCluster(): { readonly server: string } | null;
  applyToFetchOptions(opts: Record<string, never>): Promise<unknown>;
  /** Optional: resolve credentials again after the API answered 401. */
  refresh?(): void;
}

/** `/apis/GROUP/VERSION/[namespaces/NS/]PLURAL` → `PLURAL.GROUP` (core: `PLURAL`), as RBAC names it. */
export function rbacResourceOf(path: string): string {
  const parts = path.split('?')[0]?.split('/').filter((p) => p !== '') ?? [];
  const plural = parts[parts.length - 1] ?? path;
  return parts[0] === 'apis' && parts[1] ? `${plural}.${parts[1]}` : plural;
}

/**
 * The error for a refused LIST or WATCH: the API server's own message (it names the user, the verb and
 * the resource), and for 401/403 what to fix, so a missing RBAC verb is obvious from one log line.
 */
export function refusedRequestError(verb: 'list' | 'watch', path: string, status: number, body: string): KubeRouterError {
  let message = body.slice(0, 300);
  try {
    const parsed: unknown = JSON.parse(body);
    const m = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>)['message'] : undefined;
    if (typeof m === 'string') message = m;
  } catch {
    /* not a Status object: keep the text */
  }
  const resource = rbacResourceOf(path);
  const hint =
    status === 403
      ? ` (kube-router needs RBAC verb "${verb}" on "${resource}": check the ClusterRole bound to its ServiceAccount)`
      : status === 401
        ? ' (the API server did not accept the credentials: token expired or wrong CA/kubeconfig)'
        : '';
  return new KubeRouterError(status === 410 ? ErrorCode.Gone : ErrorCode.ApiError, `${verb.toUpperCase()} ${path}: HTTP ${status} ${message}${hint}`, { status, verb, resource });
}

export class KubeTransport implements ApiTransport {
  private readonly watcher: Watch;
  readonly server: string;
  constructor(private readonly kc: KubeConfigLike) {
    // Watch calls only getCurrentCluster and applyToFetchOptions.
    this.watcher = new Watch(kc as unknown as KubeConfig);
    this.server = kc.getCurrentCluster()?.server ?? '';
  }

  async list(path: string, params: Readonly<Record<string, string>>): Promise<ListResult> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const init = (await this.kc.applyToFetchOptions({})) as Parameters<typeof fetch>[1];
    const res = await fetch(url.toString(), { ...init, method: 'GET', timeout: 60_000 });
    if (res.status === 401) this.kc.refresh?.();
    const text = await res.text();
    if (res.status !== 200) throw refusedRequestError('list', path, res.status, text);
    const body: unknown = JSON.parse(text);
    if (body === null || typeof body !== 'object') throw new KubeRouterError(ErrorCode.ParseError, `LIST ${path}: not an object`);
    const items = (body as Record<string, unknown>)['items'];
    const meta = (body as Record<string, unknown>)['metadata'];
    const rv = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>)['resourceVersion'] : undefined;
    const cont = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>)['continue'] : undefined;
    return { items: Array.isArray(items) ? items : [], resourceVersion: typeof rv === 'string' ? rv : '', ...(typeof cont === 'string' && cont !== '' ? { continue: cont } : {}) };
  }

  async create(path: string, body: unknown): Promise<number> {
    const init = (await this.kc.applyToFetchOptions({})) as Parameters<typeof fetch>[1] & { headers?: Record<string, string> };
    const res = await fetch(this.server + path, { ...init, method: 'POST', body: JSON.stringify(body), headers: { ...(init?.headers ?? {}), 'content-type': 'application/json' }, timeout: 10_000 });
    if (res.status === 401) this.kc.refresh?.();
    await res.text();
    return res.status;
  }

  async request(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ readonly status: number; readonly body: unknown }> {
    const init = (await this.kc.applyToFetchOptions({})) as Parameters<typeof fetch>[1] & { headers?: Record<string, string> };
    const res = await fetch(this.server + path, { ...init, method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), headers: { ...(init?.headers ?? {}), 'content-type': 'application/json', accept: 'application/json' }, timeout: 10_000 });
    if (res.status === 401) this.kc.refresh?.();
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      parsed = text.slice(0, 300);
    }
    return { status: res.status, body: parsed };
  }

  async watch(path: string, params: Readonly<Record<string, string>>, onEvent: (type: string, obj: unknown) => void, onDone: (err: unknown) => void): Promise<WatchHandle> {
    // client-node's Watch reports a refused WATCH as a bare status text ("Forbidden"): name the verb and resource.
    const done = (err: unknown): void => {
      const status = err !== null && typeof err === 'object' ? (err as { statusCode?: unknown }).statusCode : undefined;
      onDone(typeof status === 'number' ? Object.assign(refusedRequestError('watch', path, status, err instanceof Error ? err.message : ''), { statusCode: status }) : (err ?? null));
    };
    const controller = await this.watcher.watch(path, params, (type: string, obj: unknown) => onEvent(type, obj), done);
    return { abort: () => controller.abort() };
  }
}
