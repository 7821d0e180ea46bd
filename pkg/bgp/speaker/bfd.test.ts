import assert from 'node:assert/strict';
import { FakeBfdNetwork } from '../../bfd/fake-transport.js';
import { BfdSessions } from '../../bfd/sessions.js';
import { systemClock } from '../../util/clock.js';
import type { CIDR, IP } from '../../util/ip.js';
import { memoryLogger } from '../../util/logger.js';
import { BgpSpeaker } from './speaker.js';
import { BASE, cfg, until } from './speaker.test.js';

describe('BGP speaker with BFD (RFC 5882)', function () {
  this.timeout(30_000);
  const clock = systemClock();

  it('a BFD Down closes the BGP session at once and withdraws its routes, even with graceful restart; the peers without BFD are untouched', async () => {
    const net = new FakeBfdNetwork(clock);
    const A = '127.0.0.1' as IP;
    const B = '127.0.0.2' as IP;
    const C = '127.0.0.3' as IP;
    const gr = { enabled: true, timeSeconds: 120 };
    const log = memoryLogger(1);
    const bfdA = new BfdSessions({ clock, logger: log.logger, transport: net.transport([A]) });
    const a = new BgpSpeaker({ ...cfg(A, BASE + 20), gracefulRestart: gr }, { clock, logger: log.logger, bfd: bfdA });
    const b = new BgpSpeaker({ ...cfg(B, BASE + 21), gracefulRestart: gr }, { clock, logger: memoryLogger(0).logger, bfd: new BfdSessions({ clock, logger: memoryLogger(0).logger, transport: net.transport([B]) }) });
    const c = new BgpSpeaker({ ...cfg(C, BASE + 22), gracefulRestart: gr }, { clock, logger: memoryLogger(0).logger });
    for (const s of [a, b, c]) await s.start();
    const bfd = { timers: { desiredMinTxUs: 50_000, requiredMinRxUs: 50_000, detectMult: 3 }, port: 3784, hop: 'single' as const };
    try {
      b.setOriginations([{ prefix: '198.18.65.0/24' as CIDR, communities: [], to: 'all' }]);
      c.setOriginations([{ prefix: '198.18.66.0/24' as CIDR, communities: [], to: 'all' }]);
      a.setPeers([
        { address: B, asn: 64512, port: BASE + 21, kind: 'node', bfd },
        { address: C, asn: 64512, port: BASE + 22, kind: 'node' },
      ]);
      b.setPeers([{ address: A, asn: 64512, port: BASE + 20, kind: 'node', bfd }]);
      c.setPeers([{ address: A, asn: 64512, port: BASE + 20, kind: 'node' }]);
      await until('routes from both', () => a.best().has('198.18.65.0/24') && a.best().has('198.18.66.0/24'));
      await until('BFD up', () => a.status().find((s) => s.address === B)?.bfd?.state === 'Up');
      assert.equal(a.status().find((s) => s.address === C)?.bfd, undefined, 'C has no BFD session');
      assert.equal(a.status().find((s) => s.address === B)?.bfd?.detectionTimeMs, 150);
      // The path fails for BFD only: TCP (loopback) stays up, so only BFD can notice.
      const t0 = Date.now();
      net.cut(A, B);
      await until('route from B gone', () => !a.best().has('198.18.65.0/24'), 5000);
      const ms = Date.now() - t0;
      assert.ok(ms < 1000, `withdrawn after ${ms} ms`);
      assert.ok(a.best().has('198.18.66.0/24'), 'C\'s route stays');
      assert.equal(a.status().find((s) => s.address === C)?.state, 'Established');
      assert.notEqual(a.status().find((s) => s.address === B)?.state, 'Established');
      assert.ok(log.lines.some((l) => l.includes('BFD says the peer is down')), log.lines.join('\n'));
      net.heal(A, B);
      await until('back', () => a.best().has('198.18.65.0/24') && a.status().find((s) => s.address === B)?.bfd?.state === 'Up', 15_000);
    } finally {
      for (const s of [a, b, c]) await s.stop();
    }
  });
});
