/**
 * npm run bench -- bgp [--json] [--smoke] [--prefixes N] [--rounds R] [--mesh M] [--profile DIR]
 *
 * One GoBGP speaker (fed by our speaker over BGP, so it holds N IPv4 /32s) sends them:
 *  (a) to our daemon (router only, against the API fixture), which installs them in its namespace's FIB;
 *  (b) to BIRD with its kernel protocol, which does the same;
 *  (c) as the floor, `ip -batch` of the same N routes into a fresh namespace.
 * Each is timed from its BGP session established (as GoBGP sees it) to all N routes in the FIB, one
 * after the other so they never share the CPU, in R rounds; the medians are the figures. Then M
 * nodes of ours in a full iBGP mesh (each its own namespace on one bridge, one API fixture): a new
 * node joins and we time how long until its pod CIDR is in every other node's FIB.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixtureClient } from '../fixture/apiserver/client.js';
import type { JsonObject } from '../fixture/apiserver/store.js';
import { SpeakerProcess } from '../pkg/bgp/speaker/interop.test-support.js';
import type { SpeakerConfig } from '../pkg/bgp/speaker/speaker.js';
import { DAEMON_NODE_FLAGS } from '../pkg/daemon/node-flags.js';
import { KUBE_ROUTER_RT_PROTO } from '../pkg/linux/netlink/types.js';
import { bigIntToIP, ipToBigInt, type CIDR, type IP } from '../pkg/util/ip.js';
import { startInNetns, type NsProcess } from '../test/ns-process.js';
import { KUBE_ROUTER_BIN } from '../test/paths.js';
import { percentile, rssMiB, startBenchApi, verdict } from './util.js';

const median = (xs: readonly number[]): number => percentile(xs, 50);

const sh = (...argv: string[]): string => execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30 });
const nsh = (ns: string, ...argv: string[]): string => sh('ip', 'netns', 'exec', ns, ...argv);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** N host routes inside the test range, clear of the links (198.18.0-15.x) and the pod CIDRs. */
export function benchPrefixes(n: number): CIDR[] {
  const base = ipToBigInt('198.18.16.0' as IP);
  if (n > 0x20000 - 16 * 256) throw new Error(`at most ${0x20000 - 16 * 256} prefixes fit in 198.18.0.0/15`);
  return Array.from({ length: n }, (_, i) => `${bigIntToIP(base + BigInt(i), 4)}/32` as CIDR);
}

/** Routes of `proto` in the namespace's main table (counted from `ip route` lines). */
function fibCount(ns: string, proto: string): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ip', '-4', 'route', 'show', 'proto', proto], { maxBuffer: 1 << 30 });
  let n = 0;
  for (const b of r.stdout) if (b === 10) n++;
  return n;
}

/** IPv4 prefixes in the namespace's main FIB as the kernel counts them (`/proc/<pid>/net/fib_triestat` of a process in it). */
function triePrefixes(pid: number): number {
  const m = /Main:[\s\S]*?Prefixes:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/net/fib_triestat`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/**
 * When `n` routes of `proto` are in the namespace's FIB. The probe must not load the machine it
 * measures: listing 100,000 routes with `ip route` costs a core for 150 ms, so the kernel's own count
 * (fib_triestat through the process's /proc, about a millisecond) is polled every 5 ms until the main
 * table holds at least `n` prefixes, and only then are the routes of `proto` counted.
 */
async function waitForFib(what: string, ns: string, pid: number, proto: string, n: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const at = await waitFor(what, () => triePrefixes(pid) >= n, 600_000 - (Date.now() - t0), 5);
    if (fibCount(ns, proto) >= n) return at;
    await sleep(5);
  }
}

/**
 * Polls `cond` until it holds. A condition that throws (a daemon's API socket not there yet: gobgpd
 * opens it some time after it starts) counts as "not yet"; its last error is in the timeout message.
 */
async function waitFor(what: string, cond: () => boolean, ms: number, pollMs = 20): Promise<number> {
  const t0 = Date.now();
  let lastError = '';
  const holds = (): boolean => {
    try {
      return cond();
    } catch (e) {
      lastError = e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e);
      return false;
    }
  };
  while (!holds()) {
    if (Date.now() - t0 > ms) throw new Error(`bench bgp: timed out after ${ms} ms waiting for ${what}${lastError ? ` (last: ${lastError})` : ''}`);
    await sleep(pollMs);
  }
  return Date.now();
}

function addNs(name: string): void {
  spawnSync('ip', ['netns', 'delete', name]);
  sh('ip', 'netns', 'add', name);
  sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
}

/** A veth between two namespaces, a /30 each side. */
function wire(a: string, aIP: string, b: string, bIP: string, name: string): void {
  sh('ip', '-n', a, 'link', 'add', `${name}a`, 'type', 'veth', 'peer', 'name', `${name}b`, 'netns', b);
  sh('ip', '-n', a, 'addr', 'add', `${aIP}/30`, 'dev', `${name}a`);
  sh('ip', '-n', b, 'addr', 'add', `${bIP}/30`, 'dev', `${name}b`);
  sh('ip', '-n', a, 'link', 'set', `${name}a`, 'up');
  sh('ip', '-n', b, 'link', 'set', `${name}b`, 'up');
}

const GOBGP_AS = 65000;

function gobgpConf(neighbors: readonly { ip: string; as: number }[]): string {
  const lines = ['[global.config]', `  as = ${GOBGP_AS}`, '  router-id = "198.18.1.1"', '  port = 179'];
  for (const n of neighbors) {
    lines.push('[[neighbors]]', '  [neighbors.config]', `    neighbor-address = "${n.ip}"`, `    peer-as = ${n.as}`, '  [neighbors.timers.config]', '    hold-time = 90', '    connect-retry = 1', '  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', '      afi-safi-name = "ipv4-unicast"');
  }
  return lines.join('\n') + '\n';
}

export async function benchBgp(args: readonly string[]): Promise<void> {
  const json = args.includes('--json');
  const smoke = args.includes('--smoke');
  const num = (flag: string, full: number, small: number): number => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : smoke ? small : full);
  const prefixes = num('--prefixes', 100_000, 5_000);
  const meshSize = num('--mesh', 20, 4);
  const roundCount = num('--rounds', 5, 1);
  const log = (s: string): void => {
    if (!json) process.stdout.write(`${s}\n`);
  };
  const tag = `krt-b-${process.pid}`;
  const NS = { gobgp: `${tag}-gb`, feed: `${tag}-fd`, ours: `${tag}-ou`, bird: `${tag}-bd`, floor: `${tag}-fl` };
  const dir = mkdtempSync(join(tmpdir(), 'krt-bench-bgp-'));
  const procs: NsProcess[] = [];
  let feeder: SpeakerProcess | undefined;
  const namespaces: string[] = [];
  try {
    for (const ns of Object.values(NS)) {
      addNs(ns);
      namespaces.push(ns);
    }
    wire(NS.gobgp, '198.18.1.1', NS.feed, '198.18.1.2', 'f');
    wire(NS.gobgp, '198.18.2.1', NS.ours, '198.18.2.2', 'o');
    wire(NS.gobgp, '198.18.3.1', NS.bird, '198.18.3.2', 'b');
    writeFileSync(join(dir, 'gobgp.toml'), gobgpConf([{ ip: '198.18.1.2', as: 65001 }, { ip: '198.18.2.2', as: 64512 }, { ip: '198.18.3.2', as: 64513 }]));
    const sock = `unix://${join(dir, 'gobgp.sock')}`;
    procs.push(startInNetns(NS.gobgp, ['gobgpd', '-f', join(dir, 'gobgp.toml'), '-t', 'toml', '--api-hosts', sock, '--pprof-disable', '-l', 'warn']));
    const gobgp = (...a: string[]): string => sh('gobgp', '--target', sock, ...a);
    const established = (peer: string): boolean => {
      try {
        return /BGP state\s*=\s*ESTABLISHED/i.test(gobgp('neighbor', peer));
      } catch {
        return false;
      }
    };

    // GoBGP learns the N prefixes from our speaker.
    const list = benchPrefixes(prefixes);
    const feedCfg: SpeakerConfig = { localAs: 65001, routerId: '198.18.1.2' as IP, listenPort: 179, listenAddresses: [], holdTime: 90, connectRetrySeconds: 1, gracefulRestart: { enabled: false, timeSeconds: 30 }, importReject: [], nextHop: { 4: '198.18.1.2' as IP }, maxPrefixes: 0 };
    feeder = new SpeakerProcess(NS.feed, feedCfg);
    feeder.send({ peers: [{ address: '198.18.1.1' as IP, asn: GOBGP_AS, port: 179, kind: 'external', ttl: 1 }] });
    feeder.send({ originate: list.map((prefix) => ({ prefix, communities: [], to: 'all' as const })) });
    const tFeed = Date.now();
    await waitFor(`GoBGP holding ${prefixes} prefixes`, () => new RegExp(`Destination:\\s*${prefixes}\\b`).test(gobgp('global', 'rib', 'summary', '-a', 'ipv4')), 600_000, 500);
    log(`GoBGP holds ${prefixes} prefixes (fed by our speaker in ${Date.now() - tFeed} ms)`);

    // (a) ours, (b) BIRD, (c) the floor, in rounds (ours and BIRD in turn first): the medians decide,
    // so one noisy round on a shared machine does not.
    const node = (name: string, ip: string, cidr: string): JsonObject => ({ kind: 'Node', metadata: { name }, spec: { podCIDR: cidr, podCIDRs: [cidr] }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
    procs.push(await startBenchApi(NS.ours, dir, [node('bgp-bench', '198.18.2.2', '198.18.4.0/24')]));
    const routerFlags = ['--run-router=true', '--run-firewall=false', '--run-service-proxy=false', '--enable-cni=false', '--enable-pod-egress=false', '--bgp-graceful-restart=false', '--health-port=0', '--cache-sync-timeout=5m', '--bgp-max-prefixes=0'];
    const profileDir = args.includes('--profile') ? (args[args.indexOf('--profile') + 1] ?? '.') : undefined;
    // Made here: a missing directory made the daemon's log file fail to open after GoBGP and BIRD were up.
    if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
    let oursMem = { rss: 0, peak: 0 };
    let birdMem = { rss: 0, peak: 0 };
    const runOurs = async (): Promise<number> => {
      const profile = profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
      const daemon = startInNetns(NS.ours, ['node', ...DAEMON_NODE_FLAGS, ...profile, KUBE_ROUTER_BIN, `--kubeconfig=${join(dir, 'kubeconfig')}`, '--hostname-override=bgp-bench', ...routerFlags, '--peer-router-ips=198.18.2.1', `--peer-router-asns=${GOBGP_AS}`, '--cluster-asn=64512', '-v=1'], profileDir !== undefined ? { logFile: join(profileDir, 'daemon.log') } : {});
      procs.push(daemon);
      const up = await waitFor('our session', () => established('198.18.2.2'), 120_000);
      const done = await waitForFib(`${prefixes} routes in our FIB`, NS.ours, daemon.pid, String(KUBE_ROUTER_RT_PROTO), prefixes);
      oursMem = rssMiB(daemon.pid);
      log(`(a) ours: ${prefixes} routes in the FIB ${done - up} ms after the session came up; daemon RSS ${oursMem.rss.toFixed(0)} MiB (peak ${oursMem.peak.toFixed(0)})`);
      await daemon.stop(10_000);
      // A daemon leaves its routes in place when it stops: the next round starts from an empty table.
      // Our routes go through nexthop objects: flushing those takes the routes (`ip route flush` cannot delete a route by its nhid).
      nsh(NS.ours, 'ip', 'nexthop', 'flush', 'proto', String(KUBE_ROUTER_RT_PROTO));
      nsh(NS.ours, 'ip', 'route', 'flush', 'proto', String(KUBE_ROUTER_RT_PROTO));
      return done - up;
    };
    const birdConf = ['router id 198.18.3.2;', 'protocol device { scan time 10; }', 'protocol kernel { ipv4 { import none; export all; }; merge paths on; }', `protocol bgp gobgp { local 198.18.3.2 as 64513; neighbor 198.18.3.1 as ${GOBGP_AS}; direct; hold time 90; connect retry time 1; connect delay time 1; ipv4 { import all; export none; }; }`, ''].join('\n');
    writeFileSync(join(dir, 'bird.conf'), birdConf);
    const runBird = async (): Promise<number> => {
      const bird = startInNetns(NS.bird, ['bird', '-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')]);
      procs.push(bird);
      const up = await waitFor('BIRD\'s session', () => established('198.18.3.2'), 120_000);
      const done = await waitForFib(`${prefixes} routes in BIRD's FIB`, NS.bird, bird.pid, 'bird', prefixes);
      birdMem = rssMiB(bird.pid);
      log(`(b) BIRD: ${prefixes} routes in the FIB ${done - up} ms after the session came up; RSS ${birdMem.rss.toFixed(0)} MiB`);
      await bird.stop();
      nsh(NS.bird, 'ip', 'route', 'flush', 'proto', 'bird');
      return done - up;
    };
    // The floor: the same routes from a file with ip -batch.
    sh('ip', '-n', NS.floor, 'link', 'add', 'fa', 'type', 'veth', 'peer', 'name', 'fb');
    sh('ip', '-n', NS.floor, 'addr', 'add', '198.18.3.2/30', 'dev', 'fa');
    sh('ip', '-n', NS.floor, 'link', 'set', 'fa', 'up');
    sh('ip', '-n', NS.floor, 'link', 'set', 'fb', 'up');
    writeFileSync(join(dir, 'routes.batch'), list.map((p) => `route add ${p} via 198.18.3.1 proto ${KUBE_ROUTER_RT_PROTO}`).join('\n') + '\n');
    const runFloor = (): number => {
      const tf = Date.now();
      nsh(NS.floor, 'ip', '-batch', join(dir, 'routes.batch'));
      const ms = Date.now() - tf;
      log(`(c) floor: ip -batch of the same ${prefixes} routes ${ms} ms`);
      nsh(NS.floor, 'ip', 'route', 'flush', 'proto', String(KUBE_ROUTER_RT_PROTO));
      return ms;
    };
    const rounds: { oursMs: number; birdMs: number; floorMs: number }[] = [];
    for (let r = 0; r < roundCount; r++) {
      log(`round ${r + 1} of ${roundCount}`);
      const first = r % 2 === 0 ? await runOurs() : await runBird();
      const second = r % 2 === 0 ? await runBird() : await runOurs();
      const [oursRound, birdRound] = r % 2 === 0 ? [first, second] : [second, first];
      rounds.push({ oursMs: oursRound, birdMs: birdRound, floorMs: runFloor() });
    }
    const oursMs = median(rounds.map((x) => x.oursMs));
    const birdMs = median(rounds.map((x) => x.birdMs));
    const floorMs = median(rounds.map((x) => x.floorMs));
    log(`medians of ${roundCount} rounds: ours ${oursMs} ms, BIRD ${birdMs} ms, floor ${floorMs} ms`);

    // The mesh.
    const meshJoinMs = await meshJoin(meshSize, dir, tag, namespaces, procs, log);

    const result = { prefixes, oursMs, birdMs, floorMs, oursRssMiB: Math.round(oursMem.rss), birdRssMiB: Math.round(birdMem.rss), meshNodes: meshSize, meshJoinMs, oursToBird: median(rounds.map((x) => x.oursMs / x.birdMs)), oursToFloor: median(rounds.map((x) => x.oursMs / x.floorMs)), rounds };
    if (json) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      log('');
      log(verdict('oursMs / birdMs (median of rounds)', result.oursToBird, result.oursToBird <= 1, '≤ 1'));
      log(verdict('oursMs / floorMs (median of rounds)', result.oursToFloor, result.oursToFloor <= 1.5, '≤ 1.5'));
      log(verdict('meshJoinMs', meshJoinMs, meshJoinMs <= 1000, '≤ 1000'));
    }
  } finally {
    await feeder?.kill('SIGKILL');
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    for (const ns of namespaces) spawnSync('ip', ['netns', 'delete', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * M nodes of ours on one bridge, a full iBGP mesh from the Node objects of one API fixture. A new
 * node joins (its Node object created, its daemon started); the time until its pod CIDR is in every
 * other node's FIB, from its session with the first of them.
 */
async function meshJoin(m: number, dir: string, tag: string, namespaces: string[], procs: NsProcess[], log: (s: string) => void): Promise<number> {
  const hub = `${tag}-mh`;
  addNs(hub);
  namespaces.push(hub);
  sh('ip', '-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
  sh('ip', '-n', hub, 'addr', 'add', '198.18.8.254/24', 'dev', 'br0');
  sh('ip', '-n', hub, 'link', 'set', 'br0', 'up');
  const nodeIP = (i: number): string => `198.18.8.${i + 1}`;
  const podCidr = (i: number): string => `198.18.${9 + Math.floor(i / 16)}.${(i % 16) * 16}/28`;
  const nodeNs = (i: number): string => `${tag}-m${i}`;
  for (let i = 0; i <= m; i++) {
    const ns = nodeNs(i);
    addNs(ns);
    namespaces.push(ns);
    sh('ip', '-n', hub, 'link', 'add', `m${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    sh('ip', '-n', hub, 'link', 'set', `m${i}`, 'master', 'br0', 'up');
    sh('ip', '-n', ns, 'addr', 'add', `${nodeIP(i)}/24`, 'dev', 'eth0');
    sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
  }
  // The API fixture in the hub, reached by every node at 198.18.8.254.
  const node = (i: number): JsonObject => ({ kind: 'Node', metadata: { name: `mesh-${i}` }, spec: { podCIDR: podCidr(i), podCIDRs: [podCidr(i)] }, status: { addresses: [{ type: 'InternalIP', address: nodeIP(i) }] } });
  const api = await startBenchApi(hub, dir, Array.from({ length: m }, (_, i) => node(i)), '198.18.8.254:16443');
  procs.push(api);
  const flags = ['--run-router=true', '--run-firewall=false', '--run-service-proxy=false', '--enable-cni=false', '--enable-pod-egress=false', '--bgp-graceful-restart=false', '--health-port=0', '--cache-sync-timeout=5m', '--routes-sync-period=1m', '-v=0'];
  const start = (i: number): NsProcess => startInNetns(nodeNs(i), ['node', ...DAEMON_NODE_FLAGS, KUBE_ROUTER_BIN, `--kubeconfig=${join(dir, 'kubeconfig')}`, `--hostname-override=mesh-${i}`, ...flags]);
  for (let i = 0; i < m; i++) procs.push(start(i));
  const has = (i: number, cidr: string): boolean => nsh(nodeNs(i), 'ip', '-4', 'route', 'show', cidr).includes('via');
  const tMesh = Date.now();
  await waitFor(`the ${m}-node mesh`, () => Array.from({ length: m }, (_, i) => i).every((i) => has(i, podCidr((i + 1) % m))), 300_000, 200);
  log(`mesh of ${m} nodes converged in ${Date.now() - tMesh} ms (from their start)`);
  // The new node: its Node object, then its daemon.
  const client = new FixtureClient({ socketPath: join(dir, 'api.sock') });
  const tJoin = Date.now();
  await client.create(node(m));
  const joining = start(m);
  procs.push(joining);
  const done = await waitFor('the new pod CIDR everywhere', () => Array.from({ length: m }, (_, i) => i).every((i) => has(i, podCidr(m))), 120_000, 10);
  // From the new node's first BGP session: its process start and API sync are not BGP's. Its log line
  // may still be in the pipe (the polls above block the event loop): read until it is there.
  const sessionLine = /^I (\S+) \S+ bgp session established/m;
  await waitFor('the joining daemon\'s first session in its log', () => sessionLine.test(joining.output()), 10_000);
  const first = sessionLine.exec(joining.output());
  const firstAt = first ? Date.parse(first[1] ?? '') : NaN;
  log(`node ${m + 1} joins: its pod CIDR in all ${m} FIBs ${done - firstAt} ms after its first BGP session (${done - tJoin} ms after its Node object and daemon started)`);
  return done - firstAt;
}
