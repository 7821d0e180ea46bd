import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { ApiTransport } from './transport.js';

/** The object an Event is about. */
export interface EventTarget {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespace?: string;
  readonly name: string;
  readonly uid?: string;
}

export interface EventRecorderOptions {
  readonly node: string;
  /** At most this many Events posted per minute; the rest are dropped (logged and counted elsewhere). */
  readonly perMinute?: number;
  /** The same object, reason and message are posted again only after this long. */
  readonly repeatAfterMs?: number;
}

/**
 * Kubernetes Warning Events about the objects we reject (core/v1 Events, which `kubectl describe`
 * shows). Fire and forget: posting never blocks a sync and a failure is only logged. Bounded: the same
 * Event is not repeated within `repeatAfterMs`, and no more than `perMinute` go out, so a flood of bad
 * objects cannot turn into a flood of API writes.
 */
export class EventRecorder {
  private readonly posted = new Map<string, number>();
  private windowStart = -Infinity;
  private inWindow = 0;

  constructor(
    private readonly transport: Pick<ApiTransport, 'create'> | undefined,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly opts: EventRecorderOptions,
  ) {}

  /** Whether the Event was sent (false: repeated, over the rate, or no API to send to). */
  warn(target: EventTarget, reason: string, message: string): boolean {
    if (!this.transport) return false;
    const now = this.clock.monotonicMs();
    const key = `${target.kind}/${target.namespace ?? ''}/${target.name}|${reason}|${message}`;
    const last = this.posted.get(key);
    if (last !== undefined && now - last < (this.opts.repeatAfterMs ?? 600_000)) return false;
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= (this.opts.perMinute ?? 60)) return false;
    this.inWindow++;
    this.posted.set(key, now);
    if (this.posted.size > 10_000) for (const k of [...this.posted.keys()].slice(0, 5_000)) this.posted.delete(k);
    const ns = target.namespace ?? 'default';
    const at = new Date(this.clock.now()).toISOString();
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${target.name}.`, namespace: ns },
      involvedObject: { kind: target.kind, apiVersion: target.apiVersion, name: target.name, ...(target.namespace ? { namespace: target.namespace } : {}), ...(target.uid ? { uid: target.uid } : {}) },
      reason,
      message: message.slice(0, 1024),
      type: 'Warning',
      source: { component: 'kube-router', host: this.opts.node },
      reportingComponent: 'kube-router',
      reportingInstance: this.opts.node,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    this.transport.create(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`, event).then(
      (status) => {
        if (status >= 300) this.logger.v(1, 'event not recorded', { status, reason, object: `${target.kind} ${ns}/${target.name}` });
      },
      (e: unknown) => this.logger.v(1, 'event not recorded', { error: errorMessage(e), reason }),
    );
    return true;
  }
}

/** The Event target for an object we received. */
export function eventTargetOf(o: { readonly metadata: { readonly name: string; readonly namespace?: string; readonly uid?: string } }, kind: string, apiVersion: string): EventTarget {
  return { kind, apiVersion, name: o.metadata.name, ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}), ...(o.metadata.uid !== undefined ? { uid: o.metadata.uid } : {}) };
}
