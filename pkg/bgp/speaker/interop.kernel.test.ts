import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { CIDR, IP } from '../../util/ip.js';
import type { SpeakerConfig } from './speaker.js';
import { birdConfig, gobgpConfig, peerLink, SpeakerProcess, startBird, startGobgp, until, type PeerLink } from './interop.test-support.js';
import { throwawayNetns, type ThrowawayNetns } from '../../../test/throwaway-netns.js';

const OUR_CFG: SpeakerConfig = {
  localAs: 64512,
  routerId: '198.18.0.1' as IP,
  listenPort: 179,
  listenAddresses: ['198.18.0.1' as IP, '2001:db8:ff::1' as IP],
  holdTime: 9,
  connectRetrySeconds: 1,
  gracefulRestart: { enabled: true, timeSeconds: 30 },
  importReject: ['198.18.128.0/20' as CIDR],
  nextHop: { 4: '198.18.0.1' as IP, 6: '2001:db8:ff::1' as IP },
};
const sh = (ns: string, ...argv: string[]): string => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8' });

describe('BGP interop with real BIRD and GoBGP in network namespaces', function () {
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
  const detail = (): string => `ours:\n${ours?.log.slice(-3000) ?? ''}`;
  /** A third namespace; ours (198.18.0.1), the link's peer (.2) and the third (.3) meet on a bridge in ours. */
  const threeOnABridge = async (): Promise<ThrowawayNetns> => {
    const third = await throwawayNetns();
    stops.push(() => third.remove());
    const o3 = (...a: string[]): Promise<unknown> => link.ours.exec.run(a);
    await o3('ip', 'link', 'del', 'va');
    await o3('ip', 'link', 'add', 'br0', 'type', 'bridge');
    await o3('ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'br0');
    await o3('ip', 'link', 'set', 'br0', 'up');
    for (const [ns, ifname, ip] of [[link.peer, 'vp', '198.18.0.2'], [third, 'vg', '198.18.0.3']] as const) {
      await o3('ip', 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', ns.name);
      await o3('ip', 'link', 'set', ifname, 'master', 'br0', 'up');
      await ns.exec.run(['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth1']);
      await ns.exec.run(['ip', 'link', 'set', 'eth1', 'up']);
      await ns.exec.run(['ip', 'link', 'set', 'lo', 'up']);
    }
    return third;
  };

  it('BIRD, IPv4 and IPv6: sessions up, routes both ways into the kernel, withdrawals, service VIPs and defaults never imported', async () => {
    const bird = startBird(
      link.peer.name,
      link.dir,
      birdConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighbor6: '2001:db8:ff::1', neighborAs: 64512, announce: ['198.19.1.0/24', '198.18.128.0/24', '0.0.0.0/0'], announce6: ['2001:db8:1::/64'] }),
    );
    stops.push(() => bird.proc.stop());
    ours = new SpeakerProcess(link.ours.name, OUR_CFG);
    const o = ours;
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'node' }, { address: '2001:db8:ff::2' as IP, asn: 64512, port: 179, kind: 'node' }] });
    o.send({ originate: [{ prefix: '198.18.64.0/24' as CIDR, communities: [], to: 'all' }, { prefix: '2001:db8:64::/64' as CIDR, communities: [], to: 'all' }] });
    const up = await until('both sessions Established', () => o.state('198.18.0.2') === 'Established' && o.state('2001:db8:ff::2') === 'Established', 30_000, detail);
    await until('BIRD routes learned', () => o.best.some((b) => b.prefix === '198.19.1.0/24') && o.best.some((b) => b.prefix === '2001:db8:1::/64'), 10_000, detail);
    assert.deepEqual(o.best.map((b) => `${b.prefix} via ${b.nextHop}`).sort(), ['198.19.1.0/24 via 198.18.0.2', '2001:db8:1::/64 via 2001:db8:ff::2'], 'the service range and the default route are not imported');
    await until('our routes in BIRD\'s kernel table', () => sh(link.peer.name, 'ip', 'route').includes('198.18.64.0/24 via 198.18.0.1') && sh(link.peer.name, 'ip', '-6', 'route').includes('2001:db8:64::/64 via 2001:db8:ff::1'), 10_000, () => sh(link.peer.name, 'ip', 'route'));
    // Withdraw ours; BIRD withdraws its own.
    o.send({ originate: [{ prefix: '2001:db8:64::/64' as CIDR, communities: [], to: 'all' }] });
    await until('withdrawal reaches BIRD\'s kernel table', () => !sh(link.peer.name, 'ip', 'route').includes('198.18.64.0/24'), 10_000);
    execFileSync('birdc', ['-s', bird.ctl, 'disable', 'announce4']);
    await until('BIRD\'s withdrawal reaches us', () => !o.best.some((b) => b.prefix === '198.19.1.0/24'), 10_000, detail);
    assert.ok(up < 10_000, `sessions took ${up} ms`);
  });

  it('GoBGP: session up, routes both ways with communities, a route added and deleted at runtime', async () => {
    const g = startGobgp(link.peer.name, link.dir, gobgpConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512 }));
    stops.push(() => g.proc.stop());
    await g.proc.waitForOutput(/gRPC|Add a peer|Peer/i, 10_000).catch(() => undefined);
    ours = new SpeakerProcess(link.ours.name, OUR_CFG);
    const o = ours;
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'node' }] });
    o.send({ originate: [{ prefix: '198.18.64.0/24' as CIDR, communities: [64512 * 65536 + 100], to: 'all' }] });
    await until('Established', () => o.state('198.18.0.2') === 'Established', 30_000, detail);
    const gob = (...a: string[]): string => {
      const argv = g.cli(...a);
      return execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    };
    await until('GoBGP has our route with its community', () => /198\.18\.64\.0\/24\s+198\.18\.0\.1.*64512:100/.test(gob('global', 'rib')), 10_000, () => gob('global', 'rib'));
    gob('global', 'rib', 'add', '-a', 'ipv4', '198.19.2.0/24', 'nexthop', '198.18.0.2', 'community', '64512:7');
    await until('we learn GoBGP\'s route', () => o.best.some((b) => b.prefix === '198.19.2.0/24' && b.nextHop === '198.18.0.2' && b.communities.includes(64512 * 65536 + 7)), 10_000, detail);
    gob('global', 'rib', 'del', '-a', 'ipv4', '198.19.2.0/24');
    await until('and its withdrawal', () => !o.best.some((b) => b.prefix === '198.19.2.0/24'), 10_000, detail);
  });

  it('hold timer: a frozen peer is declared down after the hold time and its routes go (no graceful restart on a hold expiry)', async () => {
    const bird = startBird(link.peer.name, link.dir, birdConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512, announce: ['198.19.1.0/24'], hold: 3 }));
    stops.push(async () => {
      process.kill(bird.proc.pid, 'SIGCONT');
      await bird.proc.stop();
    });
    ours = new SpeakerProcess(link.ours.name, { ...OUR_CFG, holdTime: 3 });
    const o = ours;
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'node' }] });
    await until('route learned', () => o.best.some((b) => b.prefix === '198.19.1.0/24') && o.state('198.18.0.2') === 'Established', 30_000, detail);
    process.kill(bird.proc.pid, 'SIGSTOP');
    const t = await until('session down after the hold time', () => o.state('198.18.0.2') !== 'Established', 10_000, detail);
    assert.ok(t >= 1500 && t <= 6000, `declared down after ${t} ms with a 3 s hold time\n${detail()}`);
    await until('routes withdrawn', () => o.best.length === 0, 5000, detail);
    assert.match(o.log, /hold timer expired/);
    process.kill(bird.proc.pid, 'SIGCONT');
    await until('session back once the peer thaws', () => o.state('198.18.0.2') === 'Established', 30_000, detail);
  });

  it('graceful restart: BIRD keeps our routes while our daemon restarts; we keep BIRD\'s while it restarts', async () => {
    const conf = birdConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512, announce: ['198.19.1.0/24'], gracefulRestart: true });
    let bird = startBird(link.peer.name, link.dir, conf);
    stops.push(() => bird.proc.stop());
    ours = new SpeakerProcess(link.ours.name, OUR_CFG);
    const start = (sp: SpeakerProcess): void => {
      sp.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'node' }] });
      sp.send({ originate: [{ prefix: '198.18.64.0/24' as CIDR, communities: [], to: 'all' }] });
    };
    start(ours);
    await until('routes both ways', () => (ours?.best.some((b) => b.prefix === '198.19.1.0/24') ?? false) && sh(link.peer.name, 'ip', 'route').includes('198.18.64.0/24'), 30_000, detail);
    // Our daemon dies without a NOTIFICATION.
    await ours.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    assert.match(sh(link.peer.name, 'ip', 'route'), /198\.18\.64\.0\/24 via 198\.18\.0\.1/, 'BIRD still forwards to us while we restart');
    ours = new SpeakerProcess(link.ours.name, OUR_CFG);
    start(ours);
    await until('session back', () => ours?.state('198.18.0.2') === 'Established', 30_000, detail);
    assert.match(sh(link.peer.name, 'ip', 'route'), /198\.18\.64\.0\/24 via 198\.18\.0\.1/);
    // BIRD dies; we keep its routes, marked stale, then it returns and refreshes them.
    process.kill(bird.proc.pid, 'SIGKILL');
    await bird.proc.exited;
    await until('our session noticed', () => ours?.state('198.18.0.2') !== 'Established', 15_000, detail);
    await new Promise((r) => setTimeout(r, 2000));
    const kept = ours.best.find((b) => b.prefix === '198.19.1.0/24');
    assert.ok(kept?.stale, `BIRD's route kept as stale: ${JSON.stringify(ours.best)}`);
    bird = startBird(link.peer.name, link.dir, conf, 'bird2');
    await until('refreshed after BIRD returns (End-of-RIB clears the stale mark)', () => ours?.best.some((b) => b.prefix === '198.19.1.0/24' && !b.stale) ?? false, 30_000, detail);
  });

  it('TCP MD5 (RFC 2385): BIRD and GoBGP with the right password come up; with a wrong one the session never does', async () => {
    const bird = startBird(link.peer.name, link.dir, birdConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512, announce: ['198.19.1.0/24'], password: 'lab-md5-secret' }));
    stops.push(() => bird.proc.stop());
    ours = new SpeakerProcess(link.ours.name, OUR_CFG);
    const o = ours;
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'external', password: 'wrong-secret' }] });
    await new Promise((r) => setTimeout(r, 6000));
    assert.notEqual(o.state('198.18.0.2'), 'Established', 'a wrong key: the kernel drops the unsigned or badly signed segments');
    assert.equal(o.best.length, 0);
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'external', password: 'lab-md5-secret' }] });
    await until('Established with the right key', () => o.state('198.18.0.2') === 'Established', 30_000, detail);
    await until('routes over the signed session', () => o.best.some((b) => b.prefix === '198.19.1.0/24'), 10_000, detail);
    await bird.proc.stop();
    const g = startGobgp(link.peer.name, link.dir, gobgpConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512, password: 'other-secret' }));
    stops.push(() => g.proc.stop());
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'external', password: 'other-secret' }] });
    await until('GoBGP Established with MD5', () => o.state('198.18.0.2') === 'Established', 30_000, detail);
  });

  it('TCP MD5 both ways: BIRD and GoBGP that only wait (passive) come up, so our connecting sockets carry the key too', async () => {
    const bird = startBird(link.peer.name, link.dir, birdConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512, announce: ['198.19.1.0/24'], password: 'lab-md5-secret', passive: true }));
    stops.push(() => bird.proc.stop());
    ours = new SpeakerProcess(link.ours.name, OUR_CFG);
    const o = ours;
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'external', password: 'lab-md5-secret' }] });
    await until('Established with passive BIRD: we connected, signed', () => o.state('198.18.0.2') === 'Established', 30_000, detail);
    await until('routes over the signed session', () => o.best.some((b) => b.prefix === '198.19.1.0/24'), 10_000, detail);
    await bird.proc.stop();
    o.send({ peers: [] });
    const g = startGobgp(link.peer.name, link.dir, gobgpConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512, password: 'other-secret', passive: true }));
    stops.push(() => g.proc.stop());
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'external', password: 'other-secret' }] });
    await until('GoBGP (passive) Established with MD5', () => o.state('198.18.0.2') === 'Established', 30_000, detail);
    // And a wrong key on our side against a passive peer never comes up: the signature is really checked.
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'external', password: 'not-it' }] });
    await new Promise((r) => setTimeout(r, 6000));
    assert.notEqual(o.state('198.18.0.2'), 'Established');
  });

  it('TTL: an eBGP peer one router away gets no session at TTL 1 (our segments die on the way), and one at TTL 2', async () => {
    // ours 198.18.0.1 ── (the link's peer namespace routes) ── BIRD 198.18.1.2, two hops away.
    const far = await throwawayNetns();
    stops.push(() => far.remove());
    const r = link.peer;
    await r.exec.run(['ip', 'link', 'add', 'vc', 'type', 'veth', 'peer', 'name', 'vd', 'netns', far.name]);
    await r.exec.run(['ip', 'addr', 'add', '198.18.1.1/30', 'dev', 'vc']);
    await r.exec.run(['ip', 'link', 'set', 'vc', 'up']);
    await r.exec.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await far.exec.run(['ip', 'link', 'set', 'lo', 'up']);
    await far.exec.run(['ip', 'addr', 'add', '198.18.1.2/30', 'dev', 'vd']);
    await far.exec.run(['ip', 'link', 'set', 'vd', 'up']);
    await far.exec.run(['ip', 'route', 'add', '198.18.0.0/30', 'via', '198.18.1.1']);
    await link.ours.exec.run(['ip', 'route', 'add', '198.18.1.0/30', 'via', '198.18.0.2']);
    const bird = startBird(far.name, link.dir, birdConfig({ routerId: '198.18.1.2', asn: 64513, neighbor: '198.18.0.1', neighborAs: 64512, announce: ['198.19.2.0/24'], multihop: 2 }));
    stops.push(() => bird.proc.stop());
    ours = new SpeakerProcess(link.ours.name, OUR_CFG);
    const o = ours;
    o.send({ peers: [{ address: '198.18.1.2' as IP, asn: 64513, port: 179, kind: 'external', ttl: 1 }] });
    await new Promise((r) => setTimeout(r, 8000));
    assert.notEqual(o.state('198.18.1.2'), 'Established', 'TTL 1 does not reach a peer behind a router');
    o.send({ peers: [{ address: '198.18.1.2' as IP, asn: 64513, port: 179, kind: 'external', ttl: 2 }] });
    await until('Established at TTL 2', () => o.state('198.18.1.2') === 'Established', 30_000, detail);
    await until("BIRD's route learned", () => o.best.some((b) => b.prefix === '198.19.2.0/24'), 10_000, detail);
  });

  it('--override-nexthop: an external peer gets our address on its session as next hop; a route reflector client keeps the node next hop', async () => {
    // BIRD (an iBGP route reflector client) and GoBGP (an external peer, AS 64513) on a bridge in ours;
    // our node next hop is another address of ours (as --iface would make it), 198.18.9.1.
    const third = await threeOnABridge();
    await link.ours.exec.run(['ip', 'addr', 'add', '198.18.9.1/32', 'dev', 'lo']);
    for (const ns of [link.peer, third]) await ns.exec.run(['ip', 'route', 'add', '198.18.9.1/32', 'via', '198.18.0.1']);
    // (BIRD as `multihop`: a `direct` iBGP session treats a next hop off its link as a withdrawal)
    const bird = startBird(link.peer.name, link.dir, birdConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512, announce: ['198.19.1.0/24'], multihop: 2 }));
    stops.push(() => bird.proc.stop());
    const g = startGobgp(third.name, link.dir, gobgpConfig({ routerId: '198.18.0.3', asn: 64513, neighbor: '198.18.0.1', neighborAs: 64512 }));
    stops.push(() => g.proc.stop());
    const gob = (...a: string[]): string => {
      const argv = g.cli(...a);
      return execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    };
    const peers = [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'node' as const, rrClient: true }, { address: '198.18.0.3' as IP, asn: 64513, port: 179, kind: 'external' as const, ttl: 1 }];
    const originate = [{ prefix: '198.19.5.5/32' as CIDR, communities: [], to: 'external' as const }, { prefix: '198.19.6.0/24' as CIDR, communities: [], to: 'all' as const }];
    const cfg = { ...OUR_CFG, listenAddresses: ['198.18.0.1' as IP], nextHop: { 4: '198.18.9.1' as IP }, sessionAddress: { 4: '198.18.0.1' as IP }, rrClusterId: '198.18.0.1' as IP };
    for (const override of [false, true]) {
      await ours?.kill('SIGKILL');
      ours = new SpeakerProcess(link.ours.name, { ...cfg, ...(override ? { nextHopSelfExternal: true } : {}) });
      const o = ours;
      o.send({ peers, originate });
      await until('both Established', () => o.state('198.18.0.2') === 'Established' && o.state('198.18.0.3') === 'Established', 30_000, detail);
      const want = override ? '198.18.0.1' : '198.18.9.1';
      const re = new RegExp(`198\\.19\\.5\\.5/32\\s+${want.replace(/\./g, '\\.')}`);
      await until(`GoBGP sees the VIP with next hop ${want}`, () => re.test(gob('global', 'rib')), 15_000, () => gob('global', 'rib'));
      assert.match(gob('global', 'rib'), new RegExp(`198\\.19\\.6\\.0/24\\s+${want.replace(/\./g, '\\.')}`));
      // The reflector client: our route with the node next hop, BIRD's own route not sent back, whatever the flag.
      const birdRoute = (): string => {
        try {
          return execFileSync('birdc', ['-s', bird.ctl, 'show', 'route', 'all', 'for', '198.19.6.0/24'], { encoding: 'utf8' });
        } catch (e) {
          return `birdc failed: ${String(e)}`;
        }
      };
      await until('BIRD has our pod CIDR with the node next hop', () => /BGP\.next_hop: 198\.18\.9\.1\b/.test(birdRoute()), 15_000, () => `${birdRoute()}\n${execFileSync('birdc', ['-s', bird.ctl, 'show', 'protocols', 'all', 'ours'], { encoding: 'utf8' })}\n${detail()}`);
    }
  });

  it('route reflection (RFC 4456): as the reflector between BIRD and GoBGP clients, each learns the other route with its original next hop', async () => {
    const third = await threeOnABridge();
    const bird = startBird(link.peer.name, link.dir, birdConfig({ routerId: '198.18.0.2', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512, announce: ['198.19.1.0/24'] }));
    stops.push(() => bird.proc.stop());
    const g = startGobgp(third.name, link.dir, gobgpConfig({ routerId: '198.18.0.3', asn: 64512, neighbor: '198.18.0.1', neighborAs: 64512 }));
    stops.push(() => g.proc.stop());
    ours = new SpeakerProcess(link.ours.name, { ...OUR_CFG, listenAddresses: ['198.18.0.1' as IP], nextHop: { 4: '198.18.0.1' as IP }, rrClusterId: '198.18.0.1' as IP });
    const o = ours;
    o.send({ peers: [{ address: '198.18.0.2' as IP, asn: 64512, port: 179, kind: 'node', rrClient: true }, { address: '198.18.0.3' as IP, asn: 64512, port: 179, kind: 'node', rrClient: true }] });
    await until('both clients Established', () => o.state('198.18.0.2') === 'Established' && o.state('198.18.0.3') === 'Established', 30_000, detail);
    const gob = (...a: string[]): string => {
      const argv = g.cli(...a);
      return execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    };
    gob('global', 'rib', 'add', '-a', 'ipv4', '198.19.2.0/24', 'nexthop', '198.18.0.3');
    await until('GoBGP has BIRD route, next hop unchanged', () => /198\.19\.1\.0\/24\s+198\.18\.0\.2/.test(gob('global', 'rib')), 15_000, () => gob('global', 'rib'));
    await until('BIRD has GoBGP route in its kernel table', () => sh(link.peer.name, 'ip', 'route').includes('198.19.2.0/24 via 198.18.0.3'), 15_000, () => execFileSync('birdc', ['-s', bird.ctl, 'show', 'route', 'all'], { encoding: 'utf8' }));
    const all = execFileSync('birdc', ['-s', bird.ctl, 'show', 'route', 'all', 'for', '198.19.2.0/24'], { encoding: 'utf8' });
    assert.match(all, /originator_id:\s*198\.18\.0\.3/i, all);
    assert.match(all, /cluster_list:\s*198\.18\.0\.1/i, all);
  });
});
