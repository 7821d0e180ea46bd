import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { asString } from '../pkg/util/json.js';

export type JsonObject = Record<string, unknown>;

/** Where the lab's API client connects: the fixture's unix socket, or the real API server over TLS. */
export type KubeTarget =
  | { readonly kind: 'socket'; readonly socketPath: string }
  | {
      readonly kind: 'tls';
      /** A unix socket that forwards to the API server (the lab's CLI runs outside the lab's namespaces). */
      readonly socketPath: string;
      readonly servername: string;
      readonly ca: string;
      readonly cert: string;
      readonly key: string;
    };

interface KindInfo {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

/** The kinds the lab reads and writes (`lab apply` refuses others; use `lab kubectl` for those). */
const KINDS: Readonly<Record<string, KindInfo>> = {
  Service: { group: '', version: 'v1', plural: 'services', namespaced: true },
  Pod: { group: '', version: 'v1', plural: 'pods', namespaced: true },
  Node: { group: '', version: 'v1', plural: 'nodes', namespaced: false },
  Namespace: { group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  Endpoints: { group: '', version: 'v1', plural: 'endpoints', namespaced: true },
  Event: { group: '', version: 'v1', plural: 'events', namespaced: true },
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  EndpointSlice: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
  NetworkPolicy: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', namespaced: true },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
  ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', namespaced: false },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', namespaced: true },
  RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', namespaced: true },
};

export function kindInfo(kind: string): KindInfo | undefined {
  return Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
}

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly what: string,
    readonly body: JsonObject,
  ) {
    super(`${what}: HTTP ${status} ${asString(body['message']) ?? ''}`.trim());
  }
}

/**
 * The lab's API client (test drivers, the lab CLI, the lab's kubelet): JSON over the fixture's unix
 * socket or over TLS with a client certificate to the real API server. Objects carry their `kind`.
 */
export class KubeClient {
  constructor(private readonly target: KubeTarget) {}

  /** The same connection with another identity (a node's certificate, for what a kubelet writes). */
  as(cert: string, key: string): KubeClient {
    if (this.target.kind !== 'tls') return this;
    return new KubeClient({ ...this.target, cert, key });
  }

  call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: JsonObject }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const headers = { 'content-type': contentType, accept: 'application/json', ...(data ? { 'content-length': Buffer.byteLength(data) } : {}) };
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: JsonObject;
          try {
            parsed = (text === '' ? {} : JSON.parse(text)) as JsonObject;
          } catch {
            parsed = { message: text.slice(0, 500) };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      };
      const t = this.target;
      const req =
        t.kind === 'socket'
          ? httpRequest({ socketPath: t.socketPath, method, path, headers, timeout: 30_000 }, onResponse)
          : httpsRequest({ socketPath: t.socketPath, method, path, headers, ca: t.ca, cert: t.cert, key: t.key, servername: t.servername, timeout: 30_000 }, onResponse);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  static collectionPath(kind: string, namespace?: string): string {
    const r = kindInfo(kind);
    if (!r) throw new Error(`the lab does not handle kind ${kind} (use 'lab kubectl' for it)`);
    const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
    return r.namespaced ? `${base}/namespaces/${namespace ?? 'default'}/${r.plural}` : `${base}/${r.plural}`;
  }

  static objectPath(kind: string, namespace: string | undefined, name: string): string {
    return `${KubeClient.collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
  }

  private async ok(p: Promise<{ status: number; body: JsonObject }>, what: string): Promise<JsonObject> {
    const r = await p;
    if (r.status >= 300) throw new KubeApiError(r.status, what, r.body);
    return r.body;
  }

  private static withApiVersion(obj: JsonObject): JsonObject {
    const r = kindInfo(String(obj['kind']));
    if (!r || obj['apiVersion'] !== undefined) return obj;
    return { apiVersion: r.group === '' ? r.version : `${r.group}/${r.version}`, ...obj };
  }

  private static nsOf(obj: JsonObject): string | undefined {
    return asString((obj['metadata'] as JsonObject | undefined)?.['namespace']);
  }

  create(obj: JsonObject): Promise<JsonObject> {
    const kind = String(obj['kind']);
    return this.ok(this.call('POST', KubeClient.collectionPath(kind, KubeClient.nsOf(obj)), KubeClient.withApiVersion(obj)), `create ${kind}`);
  }

  update(obj: JsonObject): Promise<JsonObject> {
    const kind = String(obj['kind']);
    const name = asString((obj['metadata'] as JsonObject)['name']) ?? '';
    return this.ok(this.call('PUT', KubeClient.objectPath(kind, KubeClient.nsOf(obj), name), KubeClient.withApiVersion(obj)), `update ${kind}`);
  }

  /** A JSON merge patch; `subresource` is e.g. `status`. */
  patch(kind: string, namespace: string | undefined, name: string, patch: JsonObject, subresource?: string): Promise<JsonObject> {
    const path = KubeClient.objectPath(kind, namespace, name) + (subresource ? `/${subresource}` : '');
    return this.ok(this.call('PATCH', path, patch, 'application/merge-patch+json'), `patch ${kind}${subresource ? '/' + subresource : ''} ${name}`);
  }

  /** Deletes at once (grace period 0). True when it existed. */
  async delete(kind: string, namespace: string | undefined, name: string): Promise<boolean> {
    const r = await this.call('DELETE', KubeClient.objectPath(kind, namespace, name), { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 });
    if (r.status >= 300 && r.status !== 404) throw new KubeApiError(r.status, `delete ${kind} ${name}`, r.body);
    return r.status < 300;
  }

  async get(kind: string, namespace: string | undefined, name: string): Promise<JsonObject | undefined> {
    const r = await this.call('GET', KubeClient.objectPath(kind, namespace, name));
    if (r.status === 404) return undefined;
    if (r.status >= 300) throw new KubeApiError(r.status, `get ${kind} ${name}`, r.body);
    return { kind, ...r.body };
  }

  async list(kind: string, namespace?: string, labelSelector?: string): Promise<JsonObject[]> {
    const r = kindInfo(kind);
    const base = r && r.namespaced && namespace === undefined ? KubeClient.collectionPath(kind).replace(/\/namespaces\/default\//, '/') : KubeClient.collectionPath(kind, namespace);
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const body = await this.ok(this.call('GET', base + q), `list ${kind}`);
    return ((body['items'] as JsonObject[] | undefined) ?? []).map((o) => ({ kind, ...o }));
  }
}
