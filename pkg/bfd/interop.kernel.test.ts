import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { CIDR, IP } from '../util/ip.js';
import type { PeerSpec, SpeakerConfig } from '../bgp/speaker/speaker.js';
import { birdConfig, peerLink, SpeakerProcess, startBird, startFrr, until, type PeerLink } from '../bgp/speaker/interop.test-support.js';

/**
 * Our BFD (in our BGP speaker's process) against BIRD's bfd protocol and FRR's bfdd, in namespaces:
 * sessions up at the agreed rate, then the peer's packets dropped: how long until we declare it down
 * and its routes are gone, and how long until the peer's FIB loses ours.
 */
const OURS = '198.18.0.1' as IP;
const PEER = '198.18.0.2' as IP;
const cfg = (asn: number): SpeakerConfig => ({
  localAs: asn,
  routerId: OURS,
  listenPort: 179,
  listenAddresses: [OURS, '2001:db8:ff::1' as IP],
  holdTime: 9,
  connectRetrySeconds: 1,
  gracefulRestart: { enabled: true, timeSeconds: 60 },
  importReject: [],
  nextHop: { 4: OURS, 6: '2001:db8:ff::1' as IP },
});
const sh = (ns: string, ...argv: string[]): string => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8' });
const fast = { desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, detectMult: 3 };
type WirePeer = Omit<PeerSpec, 'password'>;

/** Everything in and out of the peer's namespace dropped (its links stay up: only BFD can tell). */
function cutPeer(ns: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: 'table inet krt_cut {\n chain i { type filter hook input priority -300; policy drop; }\n chain o { type filter hook output priority -300; policy drop; }\n}\n' });
}
function healPeer(ns: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', 'krt_cut']);
}

describe('BFD interop with real BIRD and FRR in network namespaces', function () {
  this.timeout(120_000);
  let link: PeerLink;
  let ours: SpeakerProcess | undefined;
  const stops: (() => Promise<unknown>)[] = [];
  beforeEach(async () => {
    link = await peerLink();
  });
  afterEach(async () => {
    await ours?.kill('SIGKILL');
    ours = undefined;
    for (const s of stops.splice(0)) await s();
    await link.close();
  });
  const detail = (): string => `ours:\n${ours?.log.slice(-4000) ?? ''}`;

  /** Cuts the peer off and returns when we saw BFD Down and when the peer's routes left our table. */
  async function measureCut(o: SpeakerProcess, peers: readonly IP[], learned: readonly string[]): Promise<{ downMs: number; withdrawnMs: number }> {
    const t0 = Date.now();
    cutPeer(link.peer.name);
    // The harness stamps each line with its clock (the same machine's): times are the process's, not our polling's.
    await until('BFD Down', () => peers.every((p) => o.status.find((s) => s.address === p)?.bfd?.state === 'Down'), 5000, detail);
    await until('routes withdrawn', () => !o.best.some((b) => learned.includes(b.prefix)), 5000, detail);
    for (const p of peers) assert.notEqual(o.state(p), 'Established', `the BGP session to ${p} was closed with BFD (its hold time is 9 s)`);
    return { downMs: o.statusAt - t0, withdrawnMs: o.bestAt - t0 };
  }

  it('BIRD, single hop over IPv4 and IPv6 (RFC 5881): up at 300 ms × 3; its packets dropped: Down and its routes gone within 1 s, even with graceful restart; healed: back', async () => {
    const bird = startBird(
      link.peer.name,
      link.dir,
      birdConfig({ routerId: PEER, asn: 64512, neighbor: OURS, neighbor6: '2001:db8:ff::1', neighborAs: 64512, announce: ['198.19.1.0/24'], announce6: ['2001:db8:1::/64'], gracefulRestart: true, bfd: { intervalMs: 300, multiplier: 3 } }),
    );
    stops.push(() => bird.proc.stop());
    ours = new SpeakerProcess(link.ours.name, cfg(64512));
    const o = ours;
    const bfd = { timers: fast, port: 3784, hop: 'single' as const };
    const peers: WirePeer[] = [
      { address: PEER, asn: 64512, port: 179, kind: 'external', bfd },
      { address: '2001:db8:ff::2' as IP, asn: 64512, port: 179, kind: 'external', bfd },
    ];
    o.send({ peers });
    o.send({ originate: [{ prefix: '198.18.64.0/24' as CIDR, communities: [], to: 'all' }] });
    await until('BGP and BFD up on both families', () => peers.every((p) => o.state(p.address) === 'Established' && o.status.find((s) => s.address === p.address)?.bfd?.state === 'Up'), 30_000, detail);
    await until('routes learned', () => o.best.some((b) => b.prefix === '198.19.1.0/24') && o.best.some((b) => b.prefix === '2001:db8:1::/64'), 10_000, detail);
    // Up, both sides move from the slow start rate to 300 ms with a Poll Sequence (RFC 5880 6.8.3).
    await until('the 300 ms rate agreed', () => peers.every((p) => o.status.find((s) => s.address === p.address)?.bfd?.detectionTimeMs === 900), 10_000, detail);
    assert.equal(o.status.find((s) => s.address === PEER)?.bfd?.txIntervalMs, 300);
    const birdBfd = execFileSync('birdc', ['-s', bird.ctl, 'show', 'bfd', 'sessions'], { encoding: 'utf8' });
    assert.match(birdBfd, /198\.18\.0\.1\s+\S+\s+Up/, birdBfd);
    assert.match(birdBfd, /2001:db8:ff::1\s+\S+\s+Up/, birdBfd);
    await until('our route in BIRD\'s FIB', () => sh(link.peer.name, 'ip', 'route').includes('198.18.64.0/24 via 198.18.0.1'), 10_000);

    const m = await measureCut(o, peers.map((p) => p.address), ['198.19.1.0/24', '2001:db8:1::/64']);
    console.log(`      BIRD single hop: cut → our BFD Down ${m.downMs} ms, its routes out of our table ${m.withdrawnMs} ms`);
    assert.ok(m.downMs <= 1000 && m.withdrawnMs <= 1000, `detection ${m.downMs} ms, withdrawal ${m.withdrawnMs} ms`);
    // BIRD's own BFD saw us go silent too: our route leaves its FIB without waiting for the hold time.
    const tb = Date.now();
    await until('our route out of BIRD\'s FIB', () => !sh(link.peer.name, 'ip', 'route').includes('198.18.64.0/24'), 5000);
    console.log(`      BIRD single hop: its FIB without our route ${Date.now() - tb + m.downMs} ms after the cut (at most)`);

    healPeer(link.peer.name);
    await until('all back', () => peers.every((p) => o.state(p.address) === 'Established' && o.status.find((s) => s.address === p.address)?.bfd?.state === 'Up') && o.best.some((b) => b.prefix === '198.19.1.0/24'), 30_000, detail);
    assert.equal(o.status.find((s) => s.address === PEER)?.bfd?.downs, 1);
  });

  it('BIRD, eBGP multihop (RFC 5883 on port 4784): session up; packets dropped: Down within its detection time', async () => {
    const bird = startBird(link.peer.name, link.dir, birdConfig({ routerId: PEER, asn: 64513, neighbor: OURS, neighborAs: 64512, announce: ['198.19.2.0/24'], multihop: 2, bfd: { intervalMs: 300, multiplier: 3 } }));
    stops.push(() => bird.proc.stop());
    ours = new SpeakerProcess(link.ours.name, cfg(64512));
    const o = ours;
    o.send({ peers: [{ address: PEER, asn: 64513, port: 179, kind: 'external', ttl: 2, bfd: { timers: fast, port: 4784, hop: 'multi' } }] });
    await until('BGP and BFD up at 300 ms', () => o.state(PEER) === 'Established' && o.status[0]?.bfd?.state === 'Up' && o.status[0].bfd.detectionTimeMs === 900, 30_000, detail);
    const birdBfd = execFileSync('birdc', ['-s', bird.ctl, 'show', 'bfd', 'sessions'], { encoding: 'utf8' });
    assert.match(birdBfd, /198\.18\.0\.1\s+---\s+Up/, `BIRD has a multihop session (no interface):\n${birdBfd}`);
    assert.match(sh(link.ours.name, 'ss', '-Hnul'), /:4784\b/);
    assert.doesNotMatch(sh(link.ours.name, 'ss', '-Hnul'), /:3784\b/, 'no single-hop socket without a single-hop peer');
    const m = await measureCut(o, [PEER], ['198.19.2.0/24']);
    console.log(`      BIRD multihop: cut → our BFD Down ${m.downMs} ms, routes out ${m.withdrawnMs} ms`);
    assert.ok(m.downMs <= 1000, `detection ${m.downMs} ms`);
  });

  it('FRR bfdd with bgpd and zebra: up at 300 ms × 3; packets dropped: Down within 1 s here, and our route out of FRR\'s FIB', async () => {
    const frr = await startFrr(link.peer.name, link.dir, { routerId: PEER, asn: 64513, neighbor: OURS, neighborAs: 64512, announce: ['198.19.3.0/24'], bfd: { intervalMs: 300, multiplier: 3 } });
    stops.push(() => frr.stop());
    ours = new SpeakerProcess(link.ours.name, cfg(64512));
    const o = ours;
    o.send({ peers: [{ address: PEER, asn: 64513, port: 179, kind: 'external', ttl: 1, bfd: { timers: fast, port: 3784, hop: 'single' } }] });
    o.send({ originate: [{ prefix: '198.18.64.0/24' as CIDR, communities: [], to: 'all' }] });
    const vtysh = (c: string): string => {
      const [cmd = '', ...args] = frr.vtysh(c);
      return execFileSync(cmd, args, { encoding: 'utf8' });
    };
    await until('BGP and BFD up at 300 ms', () => o.state(PEER) === 'Established' && o.status[0]?.bfd?.state === 'Up' && o.status[0].bfd.detectionTimeMs === 900 && o.best.some((b) => b.prefix === '198.19.3.0/24'), 30_000, () => `${detail()}\nFRR:\n${frr.procs.map((p) => p.output().slice(-2000)).join('\n')}`);
    assert.match(vtysh('show bfd peers brief'), /198\.18\.0\.1\s+up/);
    // (zebra installs through nexthop objects: `198.18.64.0/24 nhid N via 198.18.0.1 …`)
    await until('our route in FRR\'s FIB (zebra)', () => /198\.18\.64\.0\/24 (nhid \d+ )?via 198\.18\.0\.1/.test(sh(link.peer.name, 'ip', 'route')), 10_000, () => sh(link.peer.name, 'ip', 'route'));
    const m = await measureCut(o, [PEER], ['198.19.3.0/24']);
    console.log(`      FRR: cut → our BFD Down ${m.downMs} ms, its routes out of our table ${m.withdrawnMs} ms`);
    assert.ok(m.downMs <= 1000 && m.withdrawnMs <= 1000, `detection ${m.downMs} ms, withdrawal ${m.withdrawnMs} ms`);
    const tf = Date.now();
    await until('our route out of FRR\'s FIB', () => !sh(link.peer.name, 'ip', 'route').includes('198.18.64.0/24'), 5000);
    console.log(`      FRR: its FIB without our route ${Date.now() - tf + m.downMs} ms after the cut (at most)`);
    healPeer(link.peer.name);
    await until('back', () => o.state(PEER) === 'Established' && o.status[0]?.bfd?.state === 'Up', 30_000, detail);
  });

  it('no peer asks for BFD: no BFD socket, not one BFD packet on the wire', async () => {
    const bird = startBird(link.peer.name, link.dir, birdConfig({ routerId: PEER, asn: 64512, neighbor: OURS, neighborAs: 64512, announce: ['198.19.1.0/24'] }));
    stops.push(() => bird.proc.stop());
    execFileSync('ip', ['netns', 'exec', link.ours.name, 'nft', '-f', '-'], { input: 'table inet krt_count {\n counter bfd { }\n chain o { type filter hook output priority 0; udp dport { 3784, 4784 } counter name bfd; }\n}\n' });
    ours = new SpeakerProcess(link.ours.name, cfg(64512));
    const o = ours;
    o.send({ peers: [{ address: PEER, asn: 64512, port: 179, kind: 'external' }] });
    await until('BGP up', () => o.state(PEER) === 'Established', 30_000, detail);
    await new Promise((r) => setTimeout(r, 3000));
    assert.doesNotMatch(sh(link.ours.name, 'ss', '-Hnul'), /:(3784|4784)\b/);
    assert.match(sh(link.ours.name, 'nft', 'list', 'counter', 'inet', 'krt_count', 'bfd'), /packets 0 bytes 0/);
    assert.equal(o.status[0]?.bfd, undefined);
  });
});
