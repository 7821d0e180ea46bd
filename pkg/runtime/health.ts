import type { Clock } from '../util/clock.js';

/**
 * Upstream's health semantics: each enabled component heartbeats after a successful sync; it is
 * healthy while the time since its last beat is within its sync period plus the time it took to
 * beat the first time plus a grace. Before the first beat it is not healthy ("200 once synced").
 * The API component is healthy while the watch layer has been disconnected for less than its grace.
 */
export interface ComponentStatus {
  readonly name: string;
  readonly healthy: boolean;
  readonly detail: string;
}

interface Component {
  readonly periodMs: number;
  readonly registeredAt: number;
  firstBeatDelay?: number;
  lastBeat?: number;
}

const GRACE_MS = 1500;

export class HealthChecker {
  private readonly components = new Map<string, Component>();
  private readonly probes = new Map<string, () => ComponentStatus>();

  constructor(private readonly clock: Clock) {}

  register(name: string, periodMs: number): void {
    this.components.set(name, { periodMs, registeredAt: this.clock.monotonicMs() });
  }

  /** A component whose health is computed on demand (e.g. API connectivity). */
  registerProbe(name: string, probe: () => ComponentStatus): void {
    this.probes.set(name, probe);
  }

  beat(name: string): void {
    const c = this.components.get(name);
    if (!c) return;
    const now = this.clock.monotonicMs();
    c.firstBeatDelay ??= now - c.registeredAt;
    c.lastBeat = now;
  }

  status(): ComponentStatus[] {
    const now = this.clock.monotonicMs();
    const out: ComponentStatus[] = [];
    for (const [name, c] of this.components) {
      if (c.lastBeat === undefined) {
        out.push({ name, healthy: false, detail: 'not synced yet' });
        continue;
      }
      const window = c.periodMs + (c.firstBeatDelay ?? 0) + GRACE_MS;
      const age = now - c.lastBeat;
      out.push({ name, healthy: age <= window, detail: `last sync ${Math.round(age)} ms ago (window ${Math.round(window)} ms)` });
    }
    for (const probe of this.probes.values()) out.push(probe());
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  healthy(): boolean {
    return this.status().every((s) => s.healthy);
  }
}
