import type { Clock, TimerHandle } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

/** Why a sync runs: asked for by an event, the periodic full resync, or a retry after a failure. */
export type SyncTrigger = 'request' | 'periodic' | 'retry';

export interface RunnerOptions {
  readonly name: string;
  /** Two runs start at least this far apart (bursts of events coalesce). */
  readonly minIntervalMs: number;
  /** A run happens at least this often: the controller's sync period. */
  readonly maxIntervalMs: number;
  /** After a failed run, the next one comes this soon; each further failure in a row doubles it, up to maxIntervalMs. */
  readonly retryAfterMs: number;
  /** Told after every run (the controller's liveness heartbeat and its success/failure metrics). */
  readonly onResult?: (ok: boolean) => void;
}

/**
 * Single-flight, bounded-frequency runner (kube-proxy's BoundedFrequencyRunner, in spirit): one run at
 * a time; requests made during a run coalesce into exactly one follow-up; runs start no closer than
 * minInterval; a run happens every maxInterval regardless; a failure schedules a retry.
 */
export class BoundedFrequencyRunner {
  private running = false;
  private pending: SyncTrigger | undefined;
  private lastStart = -Infinity;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private stopped = true;
  private current: Promise<void> = Promise.resolve();
  private failuresInARow = 0;

  constructor(
    private readonly fn: (trigger: SyncTrigger) => Promise<void>,
    private readonly opts: RunnerOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Starts the periodic schedule with an immediate first run. */
  start(): void {
    this.stopped = false;
    this.request('periodic');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    await this.current;
  }

  /** Asks for a run; cheap and safe to call from event handlers. */
  run(): void {
    this.request('request');
  }

  private request(trigger: SyncTrigger): void {
    if (this.stopped) return;
    // A periodic or retry reason is stronger than a plain request: keep it.
    this.pending = this.pending === undefined || this.pending === 'request' ? trigger : this.pending;
    if (this.running) return;
    const due = this.lastStart + this.opts.minIntervalMs;
    const now = this.clock.monotonicMs();
    if (now >= due) this.fire();
    else this.schedule(due - now);
  }

  private schedule(ms: number): void {
    const at = this.clock.monotonicMs() + ms;
    if (this.timer && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      if (this.pending === undefined) this.pending = 'periodic';
      this.fire();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private fire(): void {
    if (this.stopped || this.running) return;
    const trigger = this.pending ?? 'periodic';
    this.pending = undefined;
    this.clearTimer();
    this.running = true;
    this.lastStart = this.clock.monotonicMs();
    this.current = this.fn(trigger).then(
      () => this.finish(true),
      (e: unknown) => {
        this.logger.error('sync failed', { controller: this.opts.name, trigger, error: errorMessage(e), failuresInARow: this.failuresInARow + 1 });
        this.finish(false);
      },
    );
  }

  private finish(ok: boolean): void {
    this.running = false;
    this.failuresInARow = ok ? 0 : this.failuresInARow + 1;
    try {
      this.opts.onResult?.(ok);
    } catch (e) {
      this.logger.error('sync result hook failed', { controller: this.opts.name, error: errorMessage(e) });
    }
    if (this.stopped) return;
    if (this.pending !== undefined) {
      const due = this.lastStart + this.opts.minIntervalMs - this.clock.monotonicMs();
      if (due <= 0) this.fire();
      else this.schedule(due);
      return;
    }
    if (!ok) {
      this.pending = 'retry';
      // Backoff: a sync that keeps failing (a broken kernel tool) does not spin.
      this.schedule(Math.min(this.opts.maxIntervalMs, this.opts.retryAfterMs * 2 ** Math.min(this.failuresInARow - 1, 16)));
    } else this.schedule(this.opts.maxIntervalMs);
  }
}
