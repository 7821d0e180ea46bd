import assert from 'node:assert/strict';
import { controlOf, detectionTimeMs, initialSession, nextDeadline, step, txIntervalMs, type BfdAction, type BfdSessionState, type BfdTimers } from './fsm.js';
import type { ControlPacket } from './packet.js';

const fast: BfdTimers = { desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, detectMult: 3 };

/** Two pure sessions wired back to back: each one's sends are the other's receptions, in order. */
class Pair {
  now = 0;
  a: BfdSessionState;
  b: BfdSessionState;
  readonly changes: { who: 'a' | 'b'; from: string; to: string; diag: number; at: number }[] = [];
  cut = false;
  sent = 0;
  constructor(ta: BfdTimers = fast, tb: BfdTimers = fast) {
    this.a = initialSession(11, ta, 0);
    this.b = initialSession(22, tb, 0);
  }
  private run(who: 'a' | 'b', actions: readonly BfdAction[]): void {
    const queue: ControlPacket[] = [];
    for (const x of actions) {
      if (x.type === 'changed') this.changes.push({ who, from: x.from, to: x.to, diag: x.diag, at: this.now });
      else {
        this.sent++;
        if (!this.cut) queue.push(x.packet);
      }
    }
    for (const p of queue) this.deliver(who === 'a' ? 'b' : 'a', p);
  }
  deliver(to: 'a' | 'b', p: ControlPacket): void {
    const r = step(this[to], { type: 'Received', packet: p }, { now: this.now, rand: 0.5 });
    this[to] = r.state;
    this.run(to, r.actions);
  }
  /** Advances time in 1 ms steps, ticking each session at its deadlines. */
  advance(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      for (const who of ['a', 'b'] as const) {
        const at = nextDeadline(this[who]);
        if (at !== undefined && at <= this.now) {
          const r = step(this[who], { type: 'Tick' }, { now: this.now, rand: 0.5 });
          this[who] = r.state;
          this.run(who, r.actions);
        }
      }
      this.now++;
    }
  }
}

describe('BFD session (RFC 5880 6.8, pure reducer)', () => {
  it('two sessions come Up through Down, Init, Up, and then send at the negotiated rate', () => {
    const p = new Pair();
    p.advance(50);
    assert.equal(p.a.state, 'Up');
    assert.equal(p.b.state, 'Up');
    assert.deepEqual(p.changes.filter((c) => c.who === 'b').map((c) => c.to), ['Init', 'Up']);
    assert.equal(p.a.remoteDiscr, 22);
    assert.equal(p.b.remoteDiscr, 11);
    // Once Up the configured 300 ms applies (a Poll announced it and the Final ended it).
    p.advance(2000);
    assert.equal(p.a.txUs, 300_000);
    assert.equal(p.a.polling, false);
    assert.equal(p.b.polling, false);
    const before = p.sent;
    p.advance(3000);
    const perSecondEach = (p.sent - before) / 3 / 2;
    // 300 ms × 75-100 % jitter (0.875 here): about 3.8 a second each.
    assert.ok(perSecondEach > 3 && perSecondEach < 4.5, `sent ${perSecondEach}/s`);
  });

  it('not Up, a session sends at most one packet a second whatever it is configured with (6.8.3)', () => {
    const s = initialSession(1, { desiredMinTxUs: 10_000, requiredMinRxUs: 10_000, detectMult: 3 }, 0);
    assert.equal(s.txUs, 1_000_000);
    assert.equal(controlOf(s).desiredMinTxUs, 1_000_000);
    const iv = txIntervalMs(s, 0.999) ?? 0;
    assert.ok(iv >= 750 && iv <= 1000);
  });

  it('a silent peer is declared Down after the detection time (multiplier × the slower of the two rates), diag 1', () => {
    const p = new Pair();
    p.advance(3000);
    assert.equal(p.a.state, 'Up');
    assert.equal(detectionTimeMs(p.a), 900);
    p.cut = true;
    const cutAt = p.now;
    p.advance(1500);
    const down = p.changes.find((c) => c.who === 'a' && c.to === 'Down');
    assert.ok(down, 'a went Down');
    assert.equal(down.diag, 1);
    assert.ok(down.at - cutAt <= 900, `detected ${down.at - cutAt} ms after the cut`);
    assert.equal(p.a.remoteDiscr, 0, 'the remote discriminator is forgotten');
    // Healed: the sessions come back up by themselves.
    p.cut = false;
    p.advance(3000);
    assert.equal(p.a.state, 'Up');
    assert.equal(p.b.state, 'Up');
  });

  it('the detection time follows the slower side: a peer that sends every second is given 3 s', () => {
    const p = new Pair(fast, { desiredMinTxUs: 1_000_000, requiredMinRxUs: 1_000_000, detectMult: 3 });
    p.advance(5000);
    assert.equal(p.a.state, 'Up');
    assert.equal(detectionTimeMs(p.a), 3000);
    // a also sends no faster than b asks for.
    assert.equal(txIntervalMs(p.a, 1 - 1e-9)?.toFixed(0), '1000');
  });

  it('AdminDown from the peer takes the session Down with diag 3 (neighbor signaled), not after a timeout', () => {
    const p = new Pair();
    p.advance(2000);
    const r = step(p.b, { type: 'AdminDown' }, { now: p.now, rand: 0.5 });
    p.b = r.state;
    const sent = r.actions.find((x) => x.type === 'send');
    assert.ok(sent && sent.type === 'send');
    assert.equal(sent.packet.state, 'AdminDown');
    p.deliver('a', sent.packet);
    assert.equal(p.a.state, 'Down');
    assert.equal(p.a.diag, 3);
    assert.equal(nextDeadline(p.b), undefined, 'an AdminDown session sends nothing more');
  });

  it('a Poll is answered at once with Final and without P', () => {
    const s = step(initialSession(1, fast, 0), { type: 'Received', packet: { ...controlOf(initialSession(9, fast, 0)), poll: true } }, { now: 5, rand: 0 });
    const answers = s.actions.filter((x) => x.type === 'send');
    assert.equal(answers.length, 1);
    const a = answers[0];
    assert.ok(a?.type === 'send' && a.packet.final && !a.packet.poll);
  });

  it('a peer whose Required Min RX is 0 gets no periodic packets (6.8.7)', () => {
    const first = step(initialSession(1, fast, 0), { type: 'Received', packet: { ...controlOf(initialSession(9, fast, 0)), requiredMinRxUs: 0 } }, { now: 0, rand: 0 });
    assert.equal(first.state.state, 'Init');
    assert.equal(first.actions.filter((x) => x.type === 'send').length, 0);
    assert.equal(txIntervalMs(first.state, 0.5), undefined);
    const r = step(first.state, { type: 'Tick' }, { now: 2000, rand: 0.5 });
    assert.equal(r.actions.filter((x) => x.type === 'send').length, 0);
  });
});
