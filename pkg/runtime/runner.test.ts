import assert from 'node:assert/strict';
import { FakeClock } from '../util/clock.js';
import { memoryLogger } from '../util/logger.js';
import { BoundedFrequencyRunner, type SyncTrigger } from './runner.js';
import { HealthChecker } from './health.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('runtime: bounded-frequency runner', () => {
  function setup(fail: () => boolean = () => false) {
    const clock = new FakeClock();
    const runs: { trigger: SyncTrigger; at: number }[] = [];
    let release: (() => void) | undefined;
    let hold = false;
    const r = new BoundedFrequencyRunner(
      async (trigger) => {
        runs.push({ trigger, at: clock.monotonicMs() });
        if (hold) await new Promise<void>((res) => (release = res));
        if (fail()) throw new Error('boom');
      },
      { name: 't', minIntervalMs: 100, maxIntervalMs: 10_000, retryAfterMs: 500 },
      clock,
      memoryLogger(0).logger,
    );
    return { clock, runs, r, holdNext: () => (hold = true), release: () => { hold = false; release?.(); } };
  }

  it('runs at once on start, then every max interval', async () => {
    const { clock, runs, r } = setup();
    r.start();
    await flush();
    assert.deepEqual(runs.map((x) => x.trigger), ['periodic']);
    clock.advance(10_000);
    await flush();
    assert.equal(runs.length, 2);
    assert.equal(runs[1]?.trigger, 'periodic');
    await r.stop();
  });

  it('coalesces requests during a run into exactly one follow-up, after min interval', async () => {
    const t = setup();
    t.holdNext();
    t.r.start();
    await flush();
    for (let i = 0; i < 50; i++) t.r.run();
    t.release();
    await flush();
    assert.equal(t.runs.length, 1, 'follow-up waits for the min interval');
    t.clock.advance(100);
    await flush();
    assert.equal(t.runs.length, 2);
    assert.equal(t.runs[1]?.at, t.runs[0]!.at + 100);
    t.clock.advance(5000);
    await flush();
    assert.equal(t.runs.length, 2, 'no extra runs');
    await t.r.stop();
  });

  it('bursts of requests between runs coalesce too', async () => {
    const t = setup();
    t.r.start();
    await flush();
    t.clock.advance(10);
    for (let i = 0; i < 10; i++) t.r.run();
    t.clock.advance(200);
    await flush();
    assert.equal(t.runs.length, 2);
    assert.equal(t.runs[1]?.trigger, 'request');
    await t.r.stop();
  });

  it('retries after a failure', async () => {
    let failures = 1;
    const t = setup(() => failures-- > 0);
    t.r.start();
    await flush();
    t.clock.advance(499);
    await flush();
    assert.equal(t.runs.length, 1);
    t.clock.advance(1);
    await flush();
    assert.equal(t.runs.length, 2);
    assert.equal(t.runs[1]?.trigger, 'retry');
    await t.r.stop();
  });

  it('backs off: each failure in a row doubles the retry delay, up to the max interval; every run reports its result', async () => {
    const results: boolean[] = [];
    const clock = new FakeClock();
    const at: number[] = [];
    let fail = true;
    const r = new BoundedFrequencyRunner(
      () => {
        at.push(clock.monotonicMs());
        return fail ? Promise.reject(new Error('broken tool')) : Promise.resolve();
      },
      { name: 't', minIntervalMs: 0, maxIntervalMs: 3000, retryAfterMs: 500, onResult: (ok) => results.push(ok) },
      clock,
      memoryLogger(0).logger,
    );
    r.start();
    for (let i = 0; i < 100; i++) {
      await flush();
      clock.advance(100);
    }
    await flush();
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    assert.deepEqual(gaps.slice(0, 4), [500, 1000, 2000, 3000]);
    assert.ok(results.length >= 4 && results.every((x) => !x));
    fail = false;
    clock.advance(3000);
    await flush();
    assert.equal(results[results.length - 1], true);
    await r.stop();
  });

  it('does nothing after stop', async () => {
    const t = setup();
    t.r.start();
    await flush();
    await t.r.stop();
    t.r.run();
    t.clock.advance(60_000);
    await flush();
    assert.equal(t.runs.length, 1);
    assert.equal(t.clock.pendingTimers(), 0);
  });
});

describe('runtime: health', () => {
  it('is unhealthy before the first beat, healthy within period + first-beat delay + grace, then stale', () => {
    const clock = new FakeClock();
    const h = new HealthChecker(clock);
    h.register('C', 1000);
    assert.equal(h.healthy(), false);
    clock.advance(200);
    h.beat('C');
    assert.equal(h.healthy(), true);
    clock.advance(1000 + 200 + 1500);
    assert.equal(h.healthy(), true);
    clock.advance(1);
    assert.equal(h.healthy(), false);
  });
  it('includes probes', () => {
    const h = new HealthChecker(new FakeClock());
    let ok = true;
    h.registerProbe('api', () => ({ name: 'api', healthy: ok, detail: '' }));
    assert.equal(h.healthy(), true);
    ok = false;
    assert.equal(h.healthy(), false);
  });
});
