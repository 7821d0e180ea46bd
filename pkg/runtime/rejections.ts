import type { EventRecorder, EventTarget } from '../k8s/events.js';
import type { Logger } from '../util/logger.js';
import type { DaemonMetrics } from './metrics.js';

/** Stable reasons, for the metric label and the Event reason. */
export type RejectReason = 'Malformed' | 'OverBudget' | 'OutOfRange' | 'Unsupported' | 'Conflict' | 'RangeExhausted';

export interface Rejection {
  readonly controller: 'proxy' | 'routing' | 'netpol' | 'loadbalancer';
  /** The Kubernetes kind (or `NodeAnnotation`, `CNIConfig`, `BGPPeer` for inputs that are not objects of their own). */
  readonly kind: string;
  readonly reason: RejectReason;
  readonly message: string;
  /** The object, for a Warning Event on it. */
  readonly object?: EventTarget;
  /** How many problems this one line stands for (metric increment). */
  readonly count?: number;
}

/**
 * One way to refuse input: a log line, `kube_router_input_rejected_total{controller,kind,reason}` and a
 * Kubernetes Warning Event on the object, so the author sees why (`kubectl describe`).
 */
export class Rejections {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: DaemonMetrics,
    private readonly events: EventRecorder,
  ) {}

  reject(r: Rejection): void {
    const name = r.object ? `${r.object.namespace ? `${r.object.namespace}/` : ''}${r.object.name}` : undefined;
    this.logger.warn(`${r.kind} rejected: ${r.message}`, { controller: r.controller, reason: r.reason, ...(name ? { object: name } : {}) });
    this.metrics.inputRejected.inc({ controller: r.controller, kind: r.kind, reason: r.reason }, r.count ?? 1);
    if (r.object) this.events.warn(r.object, `KubeRouter${r.reason}`, r.message);
  }
}
