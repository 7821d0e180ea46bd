/** Injected time source, so that timers and durations are testable without waiting. */
export interface Clock {
  now(): number; // milliseconds since the epoch
  monotonicMs(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}
export interface TimerHandle {
  readonly id: unknown;
}

export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    monotonicMs: () => performance.now(),
    // Not unref'd: a pending retry or resync is a reason to stay alive. Components clear their
    // timers in stop().
    setTimeout: (fn, ms) => ({ id: setTimeout(fn, ms) }),
    clearTimeout: (h) => clearTimeout(h.id as NodeJS.Timeout),
  };
}

/** A manual clock for tests: time moves only when `advance` is called. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  monotonicMs(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h.id as number);
  }
  pendingTimers(): number {
    return this.timers.size;
  }
  /** Moves time forward, firing due timers in order (timers set by callbacks fire too if due). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

/**
 * For controller harnesses: time moves only with `advance` (a 60 s period or a 5 s drain check costs no
 * real time), but a timer due now (delay 0, as a runner asks for an immediate sync) fires on its own at
 * the next turn of the event loop, as a real one would, so events still flow without a test driving them.
 */
export class VirtualClock extends FakeClock {
  private readonly immediate = new Map<symbol, NodeJS.Immediate>();

  override setTimeout(fn: () => void, ms: number): TimerHandle {
    if (ms > 0) return super.setTimeout(fn, ms);
    const id = Symbol('immediate');
    this.immediate.set(
      id,
      setImmediate(() => {
        this.immediate.delete(id);
        fn();
      }),
    );
    return { id };
  }

  override clearTimeout(h: TimerHandle): void {
    if (typeof h.id === 'symbol') {
      const t = this.immediate.get(h.id);
      if (t) clearImmediate(t);
      this.immediate.delete(h.id);
    } else super.clearTimeout(h);
  }
}
