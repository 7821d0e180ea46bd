import assert from 'node:assert/strict';
import { FakeClock } from '../util/clock.js';
import type { IP } from '../util/ip.js';
import { memoryLogger } from '../util/logger.js';
import { FakeBfdNetwork } from './fake-transport.js';
import { encodeControl } from './packet.js';
import { BfdSessions, type BfdPeer } from './sessions.js';

const A = '198.18.0.1' as IP;
const B = '198.18.0.2' as IP;
const C = '198.18.0.3' as IP;
const timers = { desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, detectMult: 3 };
const path = (local: IP, remote: IP): BfdPeer => ({ local, remote, port: 3784, hop: 'single', timers });

/** A seeded PRNG, so that jitter and discriminators repeat from run to run. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) % 2 ** 31), x / 2 ** 31);
}

function world(): { clock: FakeClock; net: FakeBfdNetwork; a: BfdSessions; b: BfdSessions; changes: string[]; discarded: string[] } {
  const clock = new FakeClock();
  const net = new FakeBfdNetwork(clock);
  const changes: string[] = [];
  const discarded: string[] = [];
  const mk = (ip: IP, seed: number): BfdSessions => {
    const s = new BfdSessions({ clock, logger: memoryLogger(0).logger, transport: net.transport([ip]), rand: seeded(seed), counters: { discarded: (r) => discarded.push(r) } });
    s.onChange((remote, from, to, diag) => changes.push(`${ip}→${remote} ${from}>${to}/${diag}@${clock.monotonicMs()}`));
    return s;
  };
  return { clock, net, a: mk(A, 1), b: mk(B, 2), changes, discarded };
}

describe('BFD sessions over a network (fake transport, fake clock)', () => {
  it('come Up from both sides, and a cut path is detected within the detection time (300 ms × 3)', () => {
    const w = world();
    w.a.set([path(A, B)]);
    w.b.set([path(B, A)]);
    w.clock.advance(3000);
    assert.equal(w.a.status()[0]?.state, 'Up');
    assert.equal(w.b.status()[0]?.state, 'Up');
    assert.equal(w.a.status()[0]?.detectionTimeMs, 900);
    const cutAt = w.clock.monotonicMs();
    w.net.cut(A, B);
    w.clock.advance(2000);
    const down = w.changes.find((c) => c.startsWith(`${A}→${B} Up>Down/1`));
    assert.ok(down, w.changes.join('\n'));
    const at = Number(down.split('@')[1]);
    assert.ok(at - cutAt <= 900 && at - cutAt >= 600, `detected after ${at - cutAt} ms`);
    assert.equal(w.a.status()[0]?.downs, 1);
    w.net.heal(A, B);
    w.clock.advance(3000);
    assert.equal(w.a.status()[0]?.state, 'Up');
  });

  it('removing a session tells the peer (AdminDown: it goes Down at once with diag 3); the rest keep going', () => {
    const w = world();
    w.a.set([path(A, B)]);
    w.b.set([path(B, A)]);
    w.clock.advance(3000);
    const t = w.clock.monotonicMs();
    w.a.set([]);
    w.clock.advance(1);
    assert.ok(w.changes.some((c) => c.startsWith(`${B}→${A} Up>Down/3@${t}`)), w.changes.join('\n'));
    assert.deepEqual(w.a.status(), []);
  });

  it('a change of one peer\'s timers restarts only its session', () => {
    const w = world();
    const c = new BfdSessions({ clock: w.clock, logger: memoryLogger(0).logger, transport: w.net.transport([C]), rand: seeded(3) });
    w.a.set([path(A, B), path(A, C)]);
    w.b.set([path(B, A)]);
    c.set([path(C, A)]);
    w.clock.advance(3000);
    const before = w.a.status();
    w.a.set([path(A, B), { ...path(A, C), timers: { ...timers, detectMult: 5 } }]);
    const after = w.a.status();
    assert.equal(after.find((s) => s.remote === B)?.localDiscr, before.find((s) => s.remote === B)?.localDiscr, 'B untouched');
    assert.notEqual(after.find((s) => s.remote === C)?.localDiscr, before.find((s) => s.remote === C)?.localDiscr, 'C restarted');
    w.clock.advance(3000);
    assert.deepEqual(w.a.status().map((s) => s.state), ['Up', 'Up']);
  });

  it('hostile datagrams are counted and dropped: garbage, a spoofed discriminator, an unknown sender', () => {
    const w = world();
    w.a.set([path(A, B)]);
    w.b.set([path(B, A)]);
    w.clock.advance(3000);
    const discr = w.a.status()[0]?.localDiscr ?? 0;
    const downs = w.changes.length;
    w.net.inject(A, 3784, B, Buffer.from('not bfd'));
    // From C, claiming to be B's session (our discriminator), saying AdminDown.
    w.net.inject(A, 3784, C, encodeControl({ diag: 0, state: 'AdminDown', poll: false, final: false, demand: false, detectMult: 3, myDiscr: 99, yourDiscr: discr, desiredMinTxUs: 1e6, requiredMinRxUs: 1e6, requiredMinEchoRxUs: 0 }));
    w.net.inject(A, 3784, C, encodeControl({ diag: 0, state: 'Down', poll: false, final: false, demand: false, detectMult: 3, myDiscr: 99, yourDiscr: 0, desiredMinTxUs: 1e6, requiredMinRxUs: 1e6, requiredMinEchoRxUs: 0 }));
    w.clock.advance(1000);
    assert.deepEqual(w.discarded, ['malformed', 'unknown-session', 'unknown-session']);
    assert.equal(w.changes.length, downs, 'no state changed');
    assert.equal(w.a.status()[0]?.state, 'Up');
  });

  it('no peer asks for BFD: nothing is sent, no timer runs', () => {
    const w = world();
    w.a.set([]);
    w.b.set([]);
    w.clock.advance(10_000);
    assert.equal(w.net.delivered, 0);
    assert.equal(w.clock.pendingTimers(), 0);
  });
});
