import type { Clock, TimerHandle } from '../util/clock.js';
import { ErrorCode, errorMessage, isKubeRouterError, KubeRouterError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { objectKey, toKubeObject, type KubeObject, type StoreEvent } from './object.js';
import type { ApiTransport, WatchHandle } from './transport.js';

export interface ReflectorOptions {
  /** Collection path, e.g. `/api/v1/services`. */
  readonly path: string;
  readonly name: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /**
   * `metadata`: the cache keeps only each object's metadata once subscribers have seen the full
   * object (client-go's transform, for resources whose controllers keep their own parsed copy).
   * Views then list metadata-only objects, and `old` in updates is metadata-only.
   */
  retain?: 'full' | 'metadata';
  /** LIST page size (`limit`); default 500 as client-go. */
  readonly pageSize?: number;
  /** Server-side watch timeout; the stream is re-opened from the last version after it. */
  readonly watchTimeoutSec?: number;
  /**
   * A resource the API may not serve (a CRD not installed): a LIST answered 404 counts as an empty,
   * synced list (so it never holds up the caches), and is tried again after `optionalRetryMs`.
   */
  readonly optional?: boolean;
  readonly optionalRetryMs?: number;
}

export interface ReflectorDeps {
  readonly transport: ApiTransport;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called on every contact with the API (list, watch opened, event, bookmark). */
  readonly onContact?: () => void;
  readonly onDisconnect?: () => void;
  /** Counts restarts by reason, for metrics. */
  readonly onRestart?: (reason: 'error' | 'expired' | 'closed') => void;
}

/** An optional resource the API does not serve (404): not an error, not a disconnect. */
class NotServed extends Error {}

type WatchEnd = { readonly kind: 'closed' } | { readonly kind: 'expired' } | { readonly kind: 'error'; readonly error: unknown };

/**
 * LIST then WATCH one resource into a local store, forever: re-watch from the last version when a
 * stream ends, re-list on 410 Gone, back off exponentially after errors. Subscribers get add, update
 * (with the old object) and delete; updates that do not change the resourceVersion are dropped.
 * (client-node's ListWatch stops on the first error and gives no old object, hence this.)
 */
export class Reflector {
  private readonly items = new Map<string, KubeObject>();
  private readonly handlers = new Set<(e: StoreEvent) => void>();
  private rv = '';
  private needList = true;
  private stopped = true;
  private hasSynced = false;
  private notServed = false;
  private syncWaiters: (() => void)[] = [];
  private current: WatchHandle | undefined;
  private sleepTimer: TimerHandle | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private opts: ReflectorOptions,
    private readonly deps: ReflectorDeps,
  ) {}

  /** Sets what the cache keeps; only before start. */
  setRetention(retain: 'full' | 'metadata'): void {
    this.opts = { ...this.opts, retain };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    if (this.sleepTimer) this.deps.clock.clearTimeout(this.sleepTimer);
    this.wake?.();
    await this.loop;
  }

  synced(): boolean {
    return this.hasSynced;
  }

  /** Whether a watch stream is open right now. */
  watching(): boolean {
    return this.current !== undefined;
  }

  whenSynced(): Promise<void> {
    if (this.hasSynced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  list(): KubeObject[] {
    return [...this.items.values()];
  }

  get(key: string): KubeObject | undefined {
    return this.items.get(key);
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.handlers.add(fn);
    return () => this.handlers.delete(fn);
  }

  private emit(e: StoreEvent): void {
    for (const h of this.handlers) {
      try {
        h(e);
      } catch (err) {
        this.deps.logger.error('event handler failed', { resource: this.opts.name, error: errorMessage(err) });
      }
    }
  }

  private upsert(obj: KubeObject): void {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.items.set(key, this.opts.retain === 'metadata' ? { metadata: obj.metadata, raw: {} } : obj);
    if (!old) this.emit({ type: 'add', obj });
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion || old.metadata.resourceVersion === undefined) this.emit({ type: 'update', old, obj });
  }

  private remove(obj: KubeObject): void {
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (!old) return;
    this.items.delete(key);
    this.emit({ type: 'delete', obj: old });
  }

  private params(): Record<string, string> {
    return {
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
    };
  }

  /**
   * LIST in pages (client-go's 500), so a large cluster never sits in memory as one response; the
   * pages of one LIST are one snapshot. An expired continue token restarts the LIST.
   */
  private async relist(): Promise<void> {
    try {
      await this.relistOnce();
    } catch (e) {
      if (!this.opts.optional || !(e instanceof KubeRouterError) || e.details['status'] !== 404) throw e;
      // Not served: empty and synced, and look again later.
      if (!this.notServed) this.deps.logger.info('resource not served by the API (its CRD is not installed): treated as empty, checked again', { resource: this.opts.name, retryMs: this.opts.optionalRetryMs ?? 60_000 });
      this.notServed = true;
      for (const o of [...this.items.values()]) this.remove(o);
      this.markSynced();
      throw new NotServed();
    }
    this.notServed = false;
  }

  private markSynced(): void {
    if (!this.hasSynced) {
      this.hasSynced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async relistOnce(): Promise<void> {
    const seen = new Set<string>();
    let token: string | undefined;
    let rv = '';
    do {
      let res;
      try {
        res = await this.deps.transport.list(this.opts.path, { ...this.params(), limit: String(this.opts.pageSize ?? 500), ...(token ? { continue: token } : {}) });
      } catch (e) {
        if (token && isKubeRouterError(e, ErrorCode.Gone)) {
          this.deps.logger.v(1, 'paginated list expired: listing again', { resource: this.opts.name });
          seen.clear();
          token = undefined;
          continue;
        }
        throw e;
      }
      this.deps.onContact?.();
      if (!token) rv = res.resourceVersion;
      for (const raw of res.items) {
        const o = toKubeObject(raw);
        if (!o) {
          this.deps.logger.warn('skipping an object without metadata.name', { resource: this.opts.name });
          continue;
        }
        seen.add(objectKey(o));
        this.upsert(o);
      }
      token = res.continue;
    } while (token);
    for (const o of [...this.items.values()]) if (!seen.has(objectKey(o))) this.remove(o);
    this.rv = rv;
    this.needList = false;
    this.markSynced();
  }

  private watchOnce(): Promise<WatchEnd> {
    const timeout = this.opts.watchTimeoutSec ?? 300 + Math.floor(Math.random() * 300);
    return new Promise<WatchEnd>((resolve) => {
      let expired = false;
      let done = false;
      const finish = (end: WatchEnd): void => {
        if (done) return;
        done = true;
        // An open stream is contact until the moment it ends: an API server that goes away after a
        // long quiet watch is "gone since now", not "gone since its last event".
        if (this.current !== undefined) this.deps.onContact?.();
        this.current = undefined;
        resolve(end);
      };
      const onEvent = (type: string, raw: unknown): void => {
        this.deps.onContact?.();
        if (type === 'ERROR') {
          const code = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)['code'] : undefined;
          if (code === 410) expired = true;
          this.deps.logger.v(2, 'watch error event', { resource: this.opts.name, code: typeof code === 'number' ? code : undefined });
          return;
        }
        const o = toKubeObject(raw);
        if (!o) return;
        if (o.metadata.resourceVersion) this.rv = o.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') this.upsert(o);
        else if (type === 'DELETED') this.remove(o);
        // BOOKMARK only moves the version forward.
      };
      const params = { ...this.params(), resourceVersion: this.rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeout) };
      this.deps.transport
        .watch(this.opts.path, params, onEvent, (err) => {
          if (err && !expired) finish({ kind: 'error', error: err });
          else finish(expired ? { kind: 'expired' } : { kind: 'closed' });
        })
        .then((h) => {
          if (done || this.stopped) h.abort();
          else {
            this.current = h;
            this.deps.onContact?.();
          }
        })
        .catch((e: unknown) => finish({ kind: 'error', error: e }));
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = this.deps.clock.setTimeout(resolve, ms);
    });
  }

  private async run(): Promise<void> {
    const initial = this.opts.backoffInitialMs ?? 200;
    const max = this.opts.backoffMaxMs ?? 30_000;
    let backoff = initial;
    while (!this.stopped) {
      try {
        if (this.needList) await this.relist();
        const end = await this.watchOnce();
        if (this.stopped) break;
        if (end.kind === 'error') throw end.error;
        this.deps.onRestart?.(end.kind);
        if (end.kind === 'expired') {
          this.deps.logger.v(1, 'watch expired (410 Gone): re-listing', { resource: this.opts.name });
          this.needList = true;
        }
        backoff = initial;
      } catch (e) {
        if (this.stopped) break;
        if (e instanceof NotServed) {
          await this.sleep(this.opts.optionalRetryMs ?? 60_000);
          continue;
        }
        this.deps.onDisconnect?.();
        this.deps.onRestart?.('error');
        const status = e !== null && typeof e === 'object' ? (e as { statusCode?: unknown }).statusCode : undefined;
        if (status === 410) this.needList = true;
        this.deps.logger.warn('list/watch failed, retrying', { resource: this.opts.name, error: errorMessage(e), retryMs: backoff });
        await this.sleep(backoff);
        backoff = Math.min(max, backoff * 2);
      }
    }
  }
}
