import assert from 'node:assert/strict';
import { systemClock, VirtualClock } from '../../util/clock.js';
import type { CIDR, IP } from '../../util/ip.js';
import { memoryLogger } from '../../util/logger.js';
import { CeaseSub, MAX_MESSAGE_LEN, Notif } from '../codec/constants.js';
import { encode, encodedSize } from '../codec/message.js';
import type { UpdateMessage } from '../codec/types.js';
import { updatesFor, type OutPath } from './rib.js';
import { BgpSpeaker } from './speaker.js';
import { BASE, cfg, RawPeer, until } from './speaker.test.js';

const clock = systemClock();
const budget = { size: (u: UpdateMessage) => encodedSize(u, { fourOctetAs: true }), max: MAX_MESSAGE_LEN };
const out = (prefix: string, over: Partial<OutPath> = {}): OutPath => ({ prefix: prefix as CIDR, nextHop: '198.18.0.11' as IP, asPath: [], origin: 0, communities: [], localPref: 100, ...over });

describe('BGP speaker against hostile input and its own limits', function () {
  this.timeout(30_000);

  it('UPDATEs are packed by encoded size: 20,000 prefixes with a long AS path and reflection attributes never exceed 4,096 bytes and all go out', () => {
    const after = new Map<string, OutPath>();
    for (let i = 0; i < 20_000; i++) {
      const p = `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
      after.set(p, out(p, { asPath: Array.from({ length: 200 }, () => 64512), originatorId: '198.18.0.12' as IP, clusterList: Array.from({ length: 50 }, (_, k) => `198.18.1.${k}` as IP) }));
    }
    const r = updatesFor(new Map(), after, budget);
    assert.deepEqual(r.unsent, []);
    let n = 0;
    for (const u of r.updates) {
      assert.ok(encode(u, { fourOctetAs: true }).length <= MAX_MESSAGE_LEN);
      n += u.nlri.length;
    }
    assert.equal(n, 20_000);
    const gone = updatesFor(after, new Map(), budget);
    assert.equal(gone.updates.reduce((k, u) => k + u.withdrawn.length, 0), 20_000);
    for (const u of gone.updates) assert.ok(encode(u, { fourOctetAs: true }).length <= MAX_MESSAGE_LEN);
  });

  it('a route whose attributes cannot fit any UPDATE (1,100 communities) is left out, never encoded over the limit; IPv6 too', () => {
    const big = Array.from({ length: 1100 }, (_, i) => 0xfde80000 + i);
    const after = new Map<string, OutPath>([
      ['198.19.0.1/32', out('198.19.0.1/32', { communities: big })],
      ['198.19.0.2/32', out('198.19.0.2/32')],
      ['2001:db8::1/128', out('2001:db8::1/128', { nextHop: '2001:db8::11' as IP, communities: big })],
    ]);
    const r = updatesFor(new Map(), after, budget);
    assert.deepEqual([...r.unsent].sort(), ['198.19.0.1/32', '2001:db8::1/128']);
    assert.deepEqual(r.updates.flatMap((u) => u.nlri), ['198.19.0.2/32']);
  });

  it('a peer that sends more than its limit gets NOTIFICATION Cease/1 (RFC 4486), loses its routes, and the speaker stays up', async () => {
    const raw = new RawPeer('127.0.0.5', BASE + 2);
    await raw.listen();
    const { logger, lines } = memoryLogger(2);
    const a = new BgpSpeaker({ ...cfg('127.0.0.1', BASE + 3), maxPrefixes: 50 }, { clock, logger });
    await a.start();
    try {
      a.setPeers([{ address: '127.0.0.5' as IP, asn: 64512, port: BASE + 2, kind: 'external' }]);
      await until('our OPEN', () => raw.got.some((m) => m.type === 'open'));
      raw.send({ type: 'open', version: 4, myAs: 64512, holdTime: 9, bgpId: '127.0.0.5' as IP, capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'four-octet-as', asn: 64512 }] });
      raw.send({ type: 'keepalive' });
      await until('Established', () => a.status()[0]?.state === 'Established');
      const update = (from: number, n: number): UpdateMessage => ({ type: 'update', withdrawn: [], attributes: [{ type: 'origin', flags: 0x40, origin: 0 }, { type: 'as-path', flags: 0x40, segments: [] }, { type: 'next-hop', flags: 0x40, nextHop: '127.0.0.5' as IP }, { type: 'local-pref', flags: 0x40, value: 100 }], nlri: Array.from({ length: n }, (_, i) => `198.19.${(from + i) >> 8}.${(from + i) & 255}/32` as CIDR) });
      raw.send(update(0, 40));
      await until('40 routes', () => a.best().size === 40);
      raw.send(update(40, 20));
      await until('Cease/1 and close', () => raw.closed && raw.got.some((m) => m.type === 'notification'));
      const n = raw.got.find((m) => m.type === 'notification');
      assert.deepEqual(n?.type === 'notification' ? [n.code, n.subcode] : [], [Notif.Cease, CeaseSub.MaxPrefixes]);
      await until('its routes are gone', () => a.best().size === 0);
      assert.ok(lines.some((l) => l.includes('more prefixes than its limit')));
    } finally {
      await a.stop();
      await raw.close();
    }
  });

  it('an exception inside a session handler resets that session only (Cease/8), never the process, and it comes back', async () => {
    const raw = new RawPeer('127.0.0.6', BASE + 2);
    await raw.listen();
    const { logger, lines } = memoryLogger(2);
    let explode = true;
    const faulty = new BgpSpeaker(cfg('127.0.0.7', BASE + 1), {
      clock,
      logger,
      counters: {
        received: () => {
          if (explode) throw new Error('counter exploded');
        },
        sent: () => undefined,
      },
    });
    await faulty.start();
    const open = (): void => {
      raw.send({ type: 'open', version: 4, myAs: 64512, holdTime: 9, bgpId: '127.0.0.6' as IP, capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'four-octet-as', asn: 64512 }] });
      raw.send({ type: 'keepalive' });
    };
    const route: UpdateMessage = { type: 'update', withdrawn: [], attributes: [{ type: 'origin', flags: 0x40, origin: 0 }, { type: 'as-path', flags: 0x40, segments: [] }, { type: 'next-hop', flags: 0x40, nextHop: '127.0.0.6' as IP }, { type: 'local-pref', flags: 0x40, value: 100 }], nlri: ['198.19.9.0/24' as CIDR] };
    try {
      faulty.setPeers([{ address: '127.0.0.6' as IP, asn: 64512, port: BASE + 2, kind: 'external' }]);
      await until('our OPEN', () => raw.got.some((m) => m.type === 'open'));
      open();
      await until('Established', () => faulty.status()[0]?.state === 'Established');
      raw.send(route);
      await until('the session was reset', () => raw.closed);
      assert.ok(lines.some((l) => l.includes('bgp session fault')), lines.join('\n'));
      const n = raw.got.find((m) => m.type === 'notification');
      assert.deepEqual(n?.type === 'notification' ? [n.code, n.subcode] : [], [Notif.Cease, CeaseSub.OutOfResources]);
      // The session retries on its own; without the fault, the route is learned.
      explode = false;
      raw.closed = false;
      raw.got.length = 0;
      await until('reconnected', () => raw.got.some((m) => m.type === 'open'), 15_000);
      open();
      await until('Established again', () => faulty.status()[0]?.state === 'Established');
      raw.send(route);
      await until('route learned', () => faulty.best().has('198.19.9.0/24'));
    } finally {
      await faulty.stop();
      await raw.close();
    }
  });

  describe('a scripted adversarial peer', () => {
    const open = (raw: RawPeer, id: string): void => {
      raw.send({ type: 'open', version: 4, myAs: 64512, holdTime: 9, bgpId: id as IP, capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'four-octet-as', asn: 64512 }] });
      raw.send({ type: 'keepalive' });
    };
    const attrs = (nh: string): UpdateMessage['attributes'] => [{ type: 'origin', flags: 0x40, origin: 0 }, { type: 'as-path', flags: 0x40, segments: [] }, { type: 'next-hop', flags: 0x40, nextHop: nh as IP }, { type: 'local-pref', flags: 0x40, value: 100 }];

    it('an oversized message (header length 5,000) gets NOTIFICATION 1/2 and a close; a flood of 3,000 UPDATEs is absorbed; nothing reaches the process', async () => {
      const raw = new RawPeer('127.0.0.8', BASE + 2);
      await raw.listen();
      const { logger } = memoryLogger(1);
      const a = new BgpSpeaker(cfg('127.0.0.1', BASE + 3), { clock, logger });
      await a.start();
      try {
        a.setPeers([{ address: '127.0.0.8' as IP, asn: 64512, port: BASE + 2, kind: 'external' }]);
        await until('our OPEN', () => raw.got.some((m) => m.type === 'open'));
        open(raw, '127.0.0.8');
        await until('Established', () => a.status()[0]?.state === 'Established');
        for (let i = 0; i < 3000; i++) raw.send({ type: 'update', withdrawn: [], attributes: attrs('127.0.0.8'), nlri: [`198.19.${i >> 8}.${i & 255}/32` as CIDR] });
        await until('the flood is in the RIB', () => a.best().size === 3000, 20_000);
        const header = new Uint8Array(19).fill(0xff);
        header[16] = 5000 >> 8;
        header[17] = 5000 & 255;
        header[18] = 2;
        raw.send(header);
        await until('NOTIFICATION and close', () => raw.closed && raw.got.some((m) => m.type === 'notification'));
        const n = raw.got.find((m) => m.type === 'notification');
        assert.deepEqual(n?.type === 'notification' ? [n.code, n.subcode] : [], [Notif.Header, 2]);
        await until('its routes are withdrawn', () => a.best().size === 0);
      } finally {
        await a.stop();
        await raw.close();
      }
    });

    it('a peer that connects and never sends its OPEN is dropped when the hold timer runs out (a virtual clock: no real wait)', async () => {
      const vclock = new VirtualClock();
      const raw = new RawPeer('127.0.0.9', BASE + 2);
      await raw.listen();
      const a = new BgpSpeaker(cfg('127.0.0.1', BASE + 3), { clock: vclock, logger: memoryLogger(0).logger });
      await a.start();
      try {
        a.setPeers([{ address: '127.0.0.9' as IP, asn: 64512, port: BASE + 2, kind: 'external' }]);
        await until('our OPEN (the peer says nothing back)', () => raw.got.some((m) => m.type === 'open'));
        vclock.advance(241_000);
        await until('dropped with NOTIFICATION 4 (hold timer expired)', () => raw.got.some((m) => m.type === 'notification' && m.code === Notif.HoldTimerExpired));
        assert.notEqual(a.status()[0]?.state, 'Established');
      } finally {
        await a.stop();
        await raw.close();
      }
    });

    it('a collision connection that never sends its OPEN is closed when its time is up (held aside at most 240 s)', async () => {
      const vclock = new VirtualClock();
      const raw = new RawPeer('127.0.0.11', BASE + 2);
      await raw.listen();
      const dbg = memoryLogger(2);
      const a = new BgpSpeaker(cfg('127.0.0.1', BASE + 3), { clock: vclock, logger: dbg.logger });
      await a.start();
      const { connect } = await import('node:net');
      const second = connect({ host: '127.0.0.1', port: BASE + 3, localAddress: '127.0.0.11' });
      let closed = false;
      second.on('close', () => (closed = true));
      second.on('error', () => undefined);
      second.resume(); // read what we are sent, or 'end' (and 'close') never comes
      try {
        a.setPeers([{ address: '127.0.0.11' as IP, asn: 64512, port: BASE + 2, kind: 'external' }]);
        await until('our OPEN on our own connection (the peer stays silent there)', () => raw.got.some((m) => m.type === 'open'));
        await until('their connection is held aside (our OPEN is sent on it too)', () => second.bytesRead > 0);
        vclock.advance(239_000);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(closed, false, 'still waiting within the limit');
        vclock.advance(2_000);
        await until('closed once the limit passed', () => closed).catch((e: unknown) => {
          throw new Error(`${String(e)}\n${dbg.lines.join('\n')}`);
        });
        assert.ok(dbg.lines.some((l) => l.includes('held-aside connection closed')));
      } finally {
        second.destroy();
        await a.stop();
        await raw.close();
      }
    });

    it('a Begin-of-Route-Refresh without its End drops the stale routes after 300 s (RFC 7313; a virtual clock)', async () => {
      const vclock = new VirtualClock();
      const raw = new RawPeer('127.0.0.12', BASE + 2);
      await raw.listen();
      const a = new BgpSpeaker(cfg('127.0.0.1', BASE + 3), { clock: vclock, logger: memoryLogger(0).logger });
      await a.start();
      try {
        a.setPeers([{ address: '127.0.0.12' as IP, asn: 64512, port: BASE + 2, kind: 'external' }]);
        await until('our OPEN', () => raw.got.some((m) => m.type === 'open'));
        raw.send({ type: 'open', version: 4, myAs: 64512, holdTime: 0, bgpId: '127.0.0.12' as IP, capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'four-octet-as', asn: 64512 }, { kind: 'route-refresh' }, { kind: 'enhanced-route-refresh' }] });
        raw.send({ type: 'keepalive' });
        await until('Established', () => a.status()[0]?.state === 'Established');
        raw.send({ type: 'update', withdrawn: [], attributes: attrs('127.0.0.12'), nlri: ['198.19.30.0/24' as CIDR] });
        await until('route learned', () => a.best().has('198.19.30.0/24'));
        raw.send({ type: 'route-refresh', afi: 1, safi: 1, subtype: 1 });
        await new Promise((r) => setTimeout(r, 300)); // the Begin is in (nothing to observe until the timer)
        vclock.advance(299_000);
        await new Promise((r) => setTimeout(r, 100));
        assert.ok(a.best().has('198.19.30.0/24'), 'kept while the refresh may still end');
        vclock.advance(2_000);
        await until('dropped: the End never came', () => !a.best().has('198.19.30.0/24'));
      } finally {
        await a.stop();
        await raw.close();
      }
    });

    it('duplicate and malformed attributes: handled per RFC 7606, the session and the speaker survive', async () => {
      const raw = new RawPeer('127.0.0.10', BASE + 2);
      await raw.listen();
      const { logger } = memoryLogger(2);
      const a = new BgpSpeaker(cfg('127.0.0.1', BASE + 3), { clock, logger });
      await a.start();
      try {
        a.setPeers([{ address: '127.0.0.10' as IP, asn: 64512, port: BASE + 2, kind: 'external' }]);
        await until('our OPEN', () => raw.got.some((m) => m.type === 'open'));
        open(raw, '127.0.0.10');
        await until('Established', () => a.status()[0]?.state === 'Established');
        // Two LOCAL_PREF attributes: RFC 7606 3g, the repeats are discarded (or the UPDATE treated as withdraw).
        raw.send({ type: 'update', withdrawn: [], attributes: [...attrs('127.0.0.10'), { type: 'local-pref', flags: 0x40, value: 200 }], nlri: ['198.19.20.0/24' as CIDR] });
        raw.send({ type: 'update', withdrawn: [], attributes: attrs('127.0.0.10'), nlri: ['198.19.21.0/24' as CIDR] });
        await until('the well-formed route is learned', () => a.best().has('198.19.21.0/24'));
        assert.equal(a.status()[0]?.state, 'Established');
      } finally {
        await a.stop();
        await raw.close();
      }
    });
  });
});
