/**
 * npm run bench -- proxy [--json] [--smoke] [--services N] [--endpoints E] [--changes C] [--no-kube-proxy] [--no-crr]
 * The real daemon (proxy only) in a throwaway netns against the API fixture preloaded with N Services
 * × E endpoints, then kube-proxy (nftables mode) the same way (bench/kube-proxy.ts); then the datapath:
 * connections per second through a ClusterIP vs to the pod directly, ours and kube-proxy's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FixtureClient } from '../fixture/apiserver/client.js';
import { toKubeObject } from '../pkg/k8s/object.js';
import { parseEndpointSlice } from '../pkg/k8s/kinds/endpoint-slice.js';
import { parseService } from '../pkg/k8s/kinds/service.js';
import { renderFull } from '../pkg/proxy/nft/render.js';
import { ServiceTracker } from '../pkg/proxy/tracker.js';
import { buildNodeContext } from '../pkg/proxy/node-context.js';
import type { CIDR } from '../pkg/util/ip.js';
import { startInNetns } from '../test/ns-process.js';
import { KUBE_ROUTER_BIN, DIST } from '../test/paths.js';
import { benchObjects, benchService, benchSlice, endpointIP, clusterIP } from './proxy-objects.js';
import { cpuMs, percentile, rssMiB, startBenchApi, verdict } from './util.js';
import { kubeProxyBinary, kubeProxyPhase, startKubeProxy, type KubeProxyFigures } from './kube-proxy.js';
import { DAEMON_NODE_FLAGS } from '../pkg/daemon/node-flags.js';
import type { JsonObject } from '../fixture/apiserver/store.js';

const sh = (...argv: string[]): string => execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 28 });

/** The table our daemon would commit for these objects (`counters`: with the per-frontend traffic counters it adds while metrics are served). */
export function renderScript(objs: readonly JsonObject[], podCIDRs: readonly string[], counters: boolean): string {
  const tracker = new ServiceTracker([4]);
  const cfg = { serviceClusterIPRanges: ['198.18.128.0/17' as CIDR], serviceExternalIPRanges: [], loadBalancerIPRanges: [], strictExternalIPValidation: true, hairpinMode: false };
  for (const o of objs) {
    const k = toKubeObject(o);
    if (!k) continue;
    const key = `${k.metadata.namespace ?? ''}/${k.metadata.name}`;
    if (o['kind'] === 'Service') {
      const r = parseService(k, cfg);
      if (r.kind === 'service') tracker.setService(key, r.service);
    } else if (o['kind'] === 'EndpointSlice') {
      const r = parseEndpointSlice(k);
      if (r.kind === 'slice') tracker.setSlice(key, r.slice);
    }
  }
  const node = { ...buildNodeContext('bench-node', [], [], [4], { bindOnAllIP: false }), podCIDRs: podCIDRs as CIDR[] };
  tracker.recompute(node);
  return renderFull(tracker.model(4, node), { opts: { masqueradeAll: false, rejectUnserved: true, serviceCounters: counters }, isLocal: () => false }).script;
}

function logTime(line: string): number {
  return Date.parse(line.split(' ')[1] ?? '');
}

/** The same services for `ipvsadm --restore`: the floor of the IPVS benchmark. */
function renderIpvsadm(objs: readonly JsonObject[]): string {
  const out: string[] = [];
  const vip = new Map<string, string>();
  for (const o of objs) if (o['kind'] === 'Service') vip.set(String((o['metadata'] as JsonObject)['name']), String((o['spec'] as JsonObject)['clusterIP']));
  for (const o of objs) {
    if (o['kind'] !== 'EndpointSlice') continue;
    const svc = String(((o['metadata'] as JsonObject)['labels'] as JsonObject)['kubernetes.io/service-name']);
    const v = `${vip.get(svc) ?? ''}:80`;
    out.push(`-A -t ${v} -s rr`);
    for (const e of o['endpoints'] as JsonObject[]) out.push(`-a -t ${v} -r ${String((e['addresses'] as string[])[0])}:8080 -m -w 1`);
  }
  return out.join('\n') + '\n';
}

type Backend = 'nftables' | 'ipvs';

/** The machine's busy share of its CPUs over `ms` (from /proc/stat). */
async function busyShare(ms: number): Promise<number> {
  const read = (): [number, number] => {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return [f.reduce((a, b) => a + b, 0), idle];
  };
  const [t0, i0] = read();
  await new Promise((r) => setTimeout(r, ms));
  const [t1, i1] = read();
  return t1 === t0 ? 0 : 1 - (i1 - i0) / (t1 - t0);
}

/**
 * Waits (at most 120 s) until the machine is idle again (under 15 % busy over half a second): the
 * kernel tears deleted namespaces down in the background, and that must not land in a measurement.
 */
async function settleKernel(): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < 120_000 && (await busyShare(500)) > 0.15);
  return performance.now() - t0;
}

/**
 * A 10-service cold sync of the IPVS backend in a scratch namespace: the modules it needs are loaded.
 * The namespace is returned for the caller to delete and wait out (the kernel tears a namespace down
 * in the background, seconds of CPU in the VM).
 */
async function warmKernel(ns: string, dir: string, perService: number, prepare: (ns: string) => void, log: (s: string) => void): Promise<string> {
  const warm = `${ns}-warm`;
  const warmDir = join(dir, 'warm');
  mkdirSync(warmDir, { recursive: true });
  spawnSync('ip', ['netns', 'delete', warm]);
  sh('ip', 'netns', 'add', warm);
  sh('ip', '-n', warm, 'link', 'set', 'lo', 'up');
  prepare(warm);
  const procs: ReturnType<typeof startInNetns>[] = [];
  try {
    const t0 = performance.now();
    procs.push(await startBenchApi(warm, warmDir, benchObjects(10, perService)));
    const daemon = startInNetns(warm, ['node', ...DAEMON_NODE_FLAGS, KUBE_ROUTER_BIN, `--kubeconfig=${join(warmDir, 'kubeconfig')}`, '--hostname-override=bench-node', '--run-router=false', '--run-firewall=false', '--service-proxy-backend=ipvs', '--service-cluster-ip-range=198.18.128.0/17', '--health-port=0', '--metrics-port=0', '-v=2']);
    procs.push(daemon);
    await daemon.waitForOutput(/kernel committed mode=full/, 300_000);
    log(`kernel warmed (a 10-service IPVS sync in a scratch namespace loaded its modules) in ${(performance.now() - t0).toFixed(0)} ms`);
    return warm;
  } catch (e) {
    spawnSync('ip', ['netns', 'delete', warm]);
    throw e;
  } finally {
    for (const p of procs) await p.stop();
  }
}

/**
 * The IPVS backend's whole state as the daemon left it in `ns` (IPVS services and destinations, the
 * VIPs on kube-dummy-if and their local routes, the ipsets, the iptables chains), written into a
 * fresh namespace by `ipvsadm --restore`, `ip -batch`, `ipset restore` and `iptables-restore`, each timed.
 */
function ipvsStateFloor(ns: string, dir: string, prepare: (ns: string) => void, log: (s: string) => void, later: string[]): { totalMs: number; ipvsMs: number; ipMs: number; ipsetMs: number; iptablesMs: number } {
  const inNs = (...argv: string[]): string => sh('ip', 'netns', 'exec', ns, ...argv);
  const ipvs = inNs('ipvsadm', '-S', '-n');
  const addrs = JSON.parse(inNs('ip', '-j', 'address', 'show', 'dev', 'kube-dummy-if')) as { addr_info?: { local: string; prefixlen: number }[] }[];
  const routes = JSON.parse(inNs('ip', '-j', 'route', 'show', 'table', 'local', 'proto', '44')) as { dst: string; dev?: string; prefsrc?: string }[];
  const ipLines = [
    'link add kube-dummy-if type dummy',
    'link set kube-dummy-if up',
    ...addrs.flatMap((l) => (l.addr_info ?? []).map((a) => `address add ${a.local}/${a.prefixlen} dev kube-dummy-if`)),
    ...routes.map((r) => `route replace local ${r.dst} dev ${r.dev ?? 'kube-dummy-if'}${r.prefsrc ? ` src ${r.prefsrc}` : ''} table local proto 44 scope host`),
  ];
  const ipset = inNs('ipset', 'save');
  const iptables = inNs('iptables-save');
  const floorNs = `${ns}-state`;
  spawnSync('ip', ['netns', 'delete', floorNs]);
  sh('ip', 'netns', 'add', floorNs);
  later.push(floorNs);
  prepare(floorNs);
  const timed = (argv: string[], input: string): number => {
    const t0 = performance.now();
    execFileSync('ip', ['netns', 'exec', floorNs, ...argv], { input, maxBuffer: 1 << 28 });
    return performance.now() - t0;
  };
  writeFileSync(join(dir, 'state-floor.ip'), ipLines.join('\n') + '\n');
  const ipvsMs = timed(['ipvsadm', '--restore'], ipvs);
  const ipMs = timed(['ip', '-batch', '-'], ipLines.join('\n') + '\n');
  const ipsetMs = timed(['ipset', 'restore'], ipset);
  const iptablesMs = timed(['iptables-restore'], iptables);
  const totalMs = ipvsMs + ipMs + ipsetMs + iptablesMs;
  log(`state floor (the daemon's whole state through the kernel tools): ${totalMs.toFixed(0)} ms = ipvsadm --restore ${ipvsMs.toFixed(0)} (${ipvs.split('\n').length} lines) + ip -batch ${ipMs.toFixed(0)} (${ipLines.length}) + ipset restore ${ipsetMs.toFixed(0)} (${ipset.split('\n').length}) + iptables-restore ${iptablesMs.toFixed(0)} (${iptables.split('\n').length})`);
  return { totalMs, ipvsMs, ipMs, ipsetMs, iptablesMs };
}

async function daemonPhase(services: number, perService: number, changes: number, resyncS: number, log: (s: string) => void, backend: Backend = 'nftables'): Promise<Record<string, number>> {
  const ns = `krt-b-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'krt-bench-'));
  spawnSync('ip', ['netns', 'delete', ns]);
  sh('ip', 'netns', 'add', ns);
  sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  const addRoutes = (n: string): void => {
    // IPVS wants a route to each real server and a local node address for the VIPs' source.
    sh('ip', '-n', n, 'link', 'add', 'bench0', 'type', 'dummy');
    sh('ip', '-n', n, 'addr', 'add', '198.18.0.10/24', 'dev', 'bench0');
    sh('ip', '-n', n, 'link', 'set', 'bench0', 'up');
    sh('ip', '-n', n, 'route', 'add', '198.19.0.0/16', 'dev', 'bench0');
  };
  if (backend === 'ipvs') addRoutes(ns);
  const procs: ReturnType<typeof startInNetns>[] = [];
  /** Namespaces deleted at the end, not while something is measured. */
  const later: string[] = [];
  try {
    // The kernel's first use of IPVS, ipset types and iptables matches loads their modules: 0.8 s for
    // the first iptables-restore in the VM, against 0.2 s after. The floors run after the daemon and
    // would find them loaded, so a small daemon run loads them first and both are measured warm.
    if (backend === 'ipvs') {
      spawnSync('ip', ['netns', 'delete', await warmKernel(ns, dir, perService, addRoutes, log)]);
      log(`warm-up namespace deleted; the kernel settled in ${(await settleKernel()).toFixed(0)} ms`);
    }
    log(`generating ${services} services x ${perService} endpoints`);
    const objs = benchObjects(services, perService);
    procs.push(await startBenchApi(ns, dir, objs));
    log('API fixture loaded; starting kube-router (service proxy only)');
    const daemon = startInNetns(ns, ['node', ...DAEMON_NODE_FLAGS, KUBE_ROUTER_BIN, `--kubeconfig=${join(dir, 'kubeconfig')}`, '--hostname-override=bench-node', '--run-router=false', '--run-firewall=false', `--service-proxy-backend=${backend}`, '--service-cluster-ip-range=198.18.128.0/17', `--ipvs-sync-period=${resyncS}s`, '--health-port=0', '--metrics-port=20245', '--cache-sync-timeout=5m', '-v=2']);
    procs.push(daemon);
    await daemon.waitForOutput(/proxy sync trigger=periodic mode=full/, 300_000);
    const lines = daemon.output().split('\n');
    const synced = logTime(lines.find((l) => l.includes('informer caches synced')) ?? '');
    const full = lines.find((l) => l.includes('kernel committed mode=full')) ?? '';
    const coldSyncMs = logTime(full) - synced;
    const mem = rssMiB(daemon.pid);
    log(`cold sync ${coldSyncMs} ms (informers synced → full table committed); RSS ${mem.rss.toFixed(0)} MiB, peak ${mem.peak.toFixed(0)} MiB`);
    const steps = lines.find((l) => l.includes('ipvs full sync'));
    if (steps) log(`where the cold sync went: ${steps.slice(steps.indexOf('ipvs full sync'))}`);

    // The floor: nft -f (or ipvsadm --restore) alone, the same configuration, a fresh namespace.
    const floorNs = `${ns}-floor`;
    spawnSync('ip', ['netns', 'delete', floorNs]);
    sh('ip', 'netns', 'add', floorNs);
    // The daemon serves metrics (--metrics-port), so its table carries the traffic counters: the floor does too.
    const script = backend === 'ipvs' ? renderIpvsadm(objs) : renderScript(objs, [], true);
    writeFileSync(join(dir, 'floor.txt'), script);
    if (backend === 'ipvs') addRoutes(floorNs);
    const f0 = performance.now();
    if (backend === 'ipvs') execFileSync('ip', ['netns', 'exec', floorNs, 'ipvsadm', '--restore'], { input: script, maxBuffer: 1 << 28 });
    else sh('ip', 'netns', 'exec', floorNs, 'nft', '-f', join(dir, 'floor.txt'));
    const nftFloorMs = performance.now() - f0;
    // Deleted at the end: tearing down a namespace with 1,000 IPVS services costs the VM seconds of CPU in the background.
    later.push(floorNs);
    log(`${backend === 'ipvs' ? 'ipvsadm --restore' : 'nft -f'} floor: ${nftFloorMs.toFixed(0)} ms for ${script.split('\n').length} lines`);
    // IPVS also needs the VIPs on kube-dummy-if, their local routes, the ipsets and the chains: the
    // second floor writes exactly the state the daemon left, read back from its namespace, with the
    // kernel tools' batch modes into a fresh one.
    const stateFloor = backend === 'ipvs' ? ipvsStateFloor(ns, dir, addRoutes, log, later) : undefined;
    // The floors' namespaces go now, and the kernel's teardown is waited out: left in place, their IPVS
    // services' rate estimators (every service, every 2 s) kept a VM core busy through the changes.
    if (later.length > 0) {
      for (const n of later.splice(0)) spawnSync('ip', ['netns', 'delete', n]);
      log(`floor namespaces deleted; the kernel settled in ${(await settleKernel()).toFixed(0)} ms`);
    }

    // One-endpoint changes, end to end: API write → the daemon's kernel commit acknowledged (its -v=2
    // line, written when nft acknowledged the transaction). (`nft monitor` does not report at 10k.)
    const client = new FixtureClient({ socketPath: join(dir, 'api.sock') });
    const lat: number[] = [];
    for (let k = 0; k < changes; k++) {
      const i = (k * 7919) % services;
      const newIP = endpointIP(i, 0, perService, k + 1);
      const ips = [newIP, ...Array.from({ length: perService - 1 }, (_, j) => endpointIP(i, j + 1, perService))];
      const cur = await client.get('EndpointSlice', 'bench', `svc-${i}-1`);
      const mark = daemon.output().length;
      const t0 = Date.now();
      await client.update({ ...benchSlice(i, ips), metadata: { ...(benchSlice(i, ips)['metadata'] as JsonObject), resourceVersion: (cur?.['metadata'] as JsonObject)['resourceVersion'] } });
      const re = new RegExp(`^V2 (\\S+) kube-router/proxy kernel committed mode=partial services=bench/svc-${i}$`, 'm');
      const end = Date.now() + (backend === 'ipvs' ? 60_000 : 5000);
      let m: RegExpExecArray | null = null;
      while (!(m = re.exec(daemon.output().slice(mark))) && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
      if (!m) throw new Error(`change ${k}: no commit seen for svc-${i}\n${daemon.output().slice(-1500)}`);
      lat.push(Date.parse(m[1] as string) - t0);
    }
    log(`${changes} endpoint changes: p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms; slowest ${[...lat].map((x, k) => `${x}@${k}`).sort((a, b) => Number(b.split('@')[0]) - Number(a.split('@')[0])).slice(0, 6).join(' ')} (ms@change)`);

    // The first periodic sync after the changes (what they left behind settles: garbage, reaped tools).
    const settle = daemon.output().length;
    await daemon.waitForOutput(new RegExp(`[\\s\\S]{${settle}}[\\s\\S]*proxy sync trigger=periodic`), (backend === 'ipvs' ? resyncS * 2 + 120 : resyncS + 10) * 1000);
    // Idle: the daemon between two periodic syncs with nothing changing (timers, watches, metrics).
    await new Promise((r) => setTimeout(r, 1000));
    const idleS = Math.max(2, resyncS - 4);
    const idleMark = daemon.output().length;
    const i0 = cpuMs(daemon.pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const idleCpu = cpuMs(daemon.pid) - i0;
    const idleElapsed = performance.now() - t0;
    const idleClean = !daemon.output().slice(idleMark).includes('proxy sync trigger=');
    const idleCpuMsPerMin = (idleCpu / idleElapsed) * 60_000;
    log(`idle: ${idleCpu.toFixed(0)} ms of CPU in ${(idleElapsed / 1000).toFixed(1)} s with no sync${idleClean ? '' : ' (a sync ran meanwhile: not idle)'} = ${idleCpuMsPerMin.toFixed(0)} ms per minute`);
    // The next periodic resync, nothing changed: the daemon's CPU from here until it has run, less the idle rate.
    const before = daemon.output().length;
    const c0 = cpuMs(daemon.pid);
    const r0 = performance.now();
    await daemon.waitForOutput(new RegExp(`[\\s\\S]{${before}}[\\s\\S]*proxy sync trigger=periodic`), (backend === 'ipvs' ? resyncS * 2 + 120 : resyncS + 10) * 1000);
    await new Promise((r) => setTimeout(r, 500));
    const cpu = cpuMs(daemon.pid) - c0;
    const ownCpu = Math.max(0, cpu - (idleCpu / idleElapsed) * (performance.now() - r0));
    const resyncLine = daemon.output().slice(before).split('\n').find((l) => l.includes('trigger=periodic')) ?? '';
    const noopWrites = Number(/writes=(\d+)/.exec(resyncLine)?.[1] ?? NaN) + (/kernel committed/.test(daemon.output().slice(before)) ? 1 : 0);
    log(`no-op resync: ${resyncLine.slice(resyncLine.indexOf('proxy sync'))}; daemon CPU ${cpu.toFixed(0)} ms, ${ownCpu.toFixed(0)} ms beyond the idle rate`);
    // What a resync that wrote something wrote (IPVS: its ops by kind).
    const resyncSteps = daemon.output().slice(before).split('\n').find((l) => l.includes('ipvs full sync'));
    if (noopWrites > 0 && resyncSteps) log(`the resync's writes: ${resyncSteps.slice(resyncSteps.indexOf('ipvs full sync'))}`);
    const steady = rssMiB(daemon.pid);
    const metrics = sh('ip', 'netns', 'exec', ns, 'curl', '-s', 'http://127.0.0.1:20245/metrics');
    const gauge = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metrics)?.[1] ?? NaN) / 1048576;
    log(`steady state after the changes and a resync: RSS ${steady.rss.toFixed(0)} MiB (peak ${steady.peak.toFixed(0)} MiB); V8 heap used ${gauge('nodejs_heap_size_used_bytes').toFixed(0)} MiB of ${gauge('nodejs_heap_size_total_bytes').toFixed(0)} MiB, external ${gauge('nodejs_external_memory_bytes').toFixed(0)} MiB`);
    return { services, endpoints: services * perService, coldSyncMs, nftFloorMs, ...(stateFloor ? { stateFloorMs: stateFloor.totalMs, stateFloorIpvsMs: stateFloor.ipvsMs, stateFloorIpMs: stateFloor.ipMs, stateFloorIpsetMs: stateFloor.ipsetMs, stateFloorIptablesMs: stateFloor.iptablesMs } : {}), endpointChangeP50Ms: percentile(lat, 50), endpointChangeP99Ms: percentile(lat, 99), noopResyncKernelWrites: noopWrites, noopResyncCpuMs: cpu, noopResyncOwnCpuMs: ownCpu, idleCpuMsPerMin: idleClean ? idleCpuMsPerMin : NaN, idleRssMiB: steady.rss, rssMiB: steady.rss, rssAfterColdSyncMiB: mem.rss, rssPeakMiB: steady.peak };
  } finally {
    for (const p of procs) await p.stop();
    spawnSync('ip', ['netns', 'delete', ns]);
    for (const n of later) spawnSync('ip', ['netns', 'delete', n]);
    rmSync(dir, { recursive: true, force: true });
  }
}

function crrBinary(): string {
  const out = join(DIST, 'bench', 'crr');
  if (!existsSync(out)) {
    mkdirSync(join(DIST, 'bench'), { recursive: true });
    sh('gcc', '-O2', '-o', out, resolve(DIST, '../bench/crr.c'));
  }
  return out;
}

/**
 * New-connection rate through a ClusterIP ÷ to the pod directly, with N services loaded: a client pod
 * and a server pod on one node, traffic forwarded by the node (the pod-to-service path; no masquerade).
 */
/** New-connection rate through a ClusterIP ÷ direct, per service count, without and with the per-frontend traffic counters. */
/** Rounds of the new-connection-rate comparison (each one direct and one ClusterIP run). */
const CRR_ROUNDS = 9;

interface CrrSpread {
  readonly p25: number;
  readonly p75: number;
  readonly min: number;
  readonly max: number;
  readonly rounds: number;
}

interface CrrResult {
  /** Median of the per-round ratios (ClusterIP ÷ direct), by service count. */
  readonly plain: Record<string, number>;
  readonly counters: Record<string, number>;
  readonly spread: Record<string, CrrSpread>;
  readonly spreadCounters: Record<string, CrrSpread>;
  /** kube-proxy's datapath at the largest count (when its binary is built). */
  readonly kubeProxy: Record<string, number>;
  readonly kubeProxySpread: Record<string, CrrSpread>;
}

async function crrPhase(counts: readonly number[], seconds: number, log: (s: string) => void, kubeProxy?: string): Promise<CrrResult> {
  const crr = crrBinary();
  const node = `krt-b-${process.pid}-dp`;
  const cli = `krt-b-${process.pid}-cli`;
  const srv = `krt-b-${process.pid}-srv`;
  const dir = mkdtempSync(join(tmpdir(), 'krt-crr-'));
  const out: CrrResult = { plain: {}, counters: {}, spread: {}, spreadCounters: {}, kubeProxy: {}, kubeProxySpread: {} };
  for (const n of [node, cli, srv]) {
    spawnSync('ip', ['netns', 'delete', n]);
    sh('ip', 'netns', 'add', n);
    sh('ip', '-n', n, 'link', 'set', 'lo', 'up');
  }
  const server = startInNetns(srv, [crr, 'server', '8080']);
  try {
    const link = (pod: string, ifname: string, nodeAddr: string, podAddr: string): void => {
      sh('ip', '-n', node, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod);
      sh('ip', '-n', node, 'addr', 'add', `${nodeAddr}/24`, 'dev', ifname);
      sh('ip', '-n', pod, 'addr', 'add', `${podAddr}/24`, 'dev', 'eth0');
      sh('ip', '-n', node, 'link', 'set', ifname, 'up');
      sh('ip', '-n', pod, 'link', 'set', 'eth0', 'up');
      sh('ip', '-n', pod, 'route', 'add', 'default', 'via', nodeAddr);
    };
    link(srv, 'vsrv', '198.18.0.1', '198.18.0.2');
    link(cli, 'vcli', '198.18.1.1', '198.18.1.2');
    sh('ip', 'netns', 'exec', node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    await server.waitForOutput(/ready/);
    for (const count of counts) {
      const objs: JsonObject[] = [];
      for (let i = 0; i < count; i++) {
        objs.push(benchService(i));
        objs.push(benchSlice(i, [i === count - 1 ? '198.18.0.2' : endpointIP(i, 0, 1)]));
      }
      const rate = (addr: string, port: string): number => Number(sh('ip', 'netns', 'exec', cli, crr, 'client', addr, port, String(seconds)).split(' ')[0]);
      // This box is noisy (the direct rate alone swings by 2x): rounds of one direct and one ClusterIP
      // run back to back (order alternating, so a drift does not favour either), a ratio per round, and
      // the median of the ratios with their spread: one noisy round does not decide the figure.
      const rounds = (label: string): { median: number; spread: CrrSpread } => {
        const direct: number[] = [];
        const vip: number[] = [];
        const ratios: number[] = [];
        for (let r = 0; r < CRR_ROUNDS; r++) {
          const viaFirst = r % 2 === 1;
          const v1 = viaFirst ? rate(clusterIP(count - 1), '80') : NaN;
          const d = rate('198.18.0.2', '8080');
          const v = viaFirst ? v1 : rate(clusterIP(count - 1), '80');
          direct.push(d);
          vip.push(v);
          if (d > 0) ratios.push(v / d);
        }
        const med = (x: number[]): number => percentile(x, 50);
        log(`crr with ${count} services${label}: direct ${med(direct).toFixed(0)}/s, via ClusterIP ${med(vip).toFixed(0)}/s; ratio per round: median ${med(ratios).toFixed(3)}, IQR ${percentile(ratios, 25).toFixed(3)}-${percentile(ratios, 75).toFixed(3)}, range ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)} (${ratios.length} rounds)`);
        return { median: med(ratios), spread: { p25: percentile(ratios, 25), p75: percentile(ratios, 75), min: Math.min(...ratios), max: Math.max(...ratios), rounds: ratios.length } };
      };
      const key = String(count);
      for (const counters of [false, true]) {
        writeFileSync(join(dir, 'r.nft'), renderScript(objs, ['198.18.0.0/24', '198.18.1.0/24'], counters));
        sh('ip', 'netns', 'exec', node, 'nft', '-f', join(dir, 'r.nft'));
        const r = rounds(counters ? ' and traffic counters' : '');
        (counters ? out.counters : out.plain)[key] = r.median;
        (counters ? out.spreadCounters : out.spread)[key] = r.spread;
        sh('ip', 'netns', 'exec', node, 'nft', 'delete', 'table', 'ip', 'kube-router-proxy');
      }
      if (kubeProxy !== undefined && count === Math.max(...counts)) {
        // kube-proxy's datapath on the same node namespace, the same services, its own ruleset.
        const kdir = mkdtempSync(join(tmpdir(), 'krt-crr-kp-'));
        const api = await startBenchApi(node, kdir, [...objs, { kind: 'Node', metadata: { name: 'bench-node' }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.1' }] } }]);
        const kp = startKubeProxy(kubeProxy, node, kdir, 'bench-node', 30, '198.18.0.0/16');
        try {
          await kp.waitForOutput(/"SyncProxyRules complete" ipFamily="IPv4"/, 600_000);
          const r = rounds(' (kube-proxy\'s nftables ruleset)');
          out.kubeProxy[key] = r.median;
          out.kubeProxySpread[key] = r.spread;
        } finally {
          await kp.stop();
          await api.stop();
          for (const t of ['ip kube-proxy', 'ip6 kube-proxy']) spawnSync('ip', ['netns', 'exec', node, 'nft', 'delete', 'table', ...t.split(' ')]);
          rmSync(kdir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await server.stop();
    for (const n of [node, cli, srv]) spawnSync('ip', ['netns', 'delete', n]);
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** `--backend ipvs` on a kernel without IPVS: the same benchmark inside the VM (test/vm/vm.ts). */
async function inVm(args: readonly string[]): Promise<void> {
  const { runInVm } = await import('../test/vm/vm.js');
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = await runInVm({ job: `set -e\ncd '${resolve(DIST, '..')}'\nKRT_IN_VM=1 node dist/bench/cli.js proxy ${quoted}\n`, timeoutMs: 60 * 60_000, onLog: (t) => process.stdout.write(t) });
  if (r.rc !== 0) throw new Error(`the benchmark in the VM failed (rc ${String(r.rc)})\n${r.console.slice(-2000)}`);
}

export async function benchProxy(args: readonly string[]): Promise<void> {
  const json = args.includes('--json');
  const smoke = args.includes('--smoke');
  const backend: Backend = args.includes('--backend') && args[args.indexOf('--backend') + 1] === 'ipvs' ? 'ipvs' : 'nftables';
  if (backend === 'ipvs' && process.env['KRT_IN_VM'] !== '1' && !existsSync('/proc/net/ip_vs')) {
    await inVm(args);
    return;
  }
  if (backend === 'ipvs') {
    // IPVS: no datapath comparison (the crr phase is nftables'); figures and the ipvsadm floor.
    const n = args.includes('--services') ? [Number(args[args.indexOf('--services') + 1])] : smoke ? [100] : [1000, 10_000];
    const perService = args.includes('--endpoints') ? Number(args[args.indexOf('--endpoints') + 1]) : 2;
    const changes = args.includes('--changes') ? Number(args[args.indexOf('--changes') + 1]) : smoke ? 5 : 50;
    for (const services of n) {
      const log = (t: string): void => {
        process.stdout.write(`bench proxy ipvs ${services}: ${t}\n`);
      };
      const d = await daemonPhase(services, perService, changes, services >= 10_000 ? 180 : 60, log, 'ipvs');
      process.stdout.write(
        [
          `services ${services}, endpoints ${services * perService} (IPVS, in ${process.env['KRT_IN_VM'] === '1' ? 'the VM: software emulation, every figure is slower than on hardware' : 'this kernel'})`,
          // Issue 5 names the floor, not a ratio: the figure is printed against it, without a verdict.
          `      coldSync / ipvsadm --restore = ${((d['coldSyncMs'] ?? NaN) / (d['nftFloorMs'] ?? NaN)).toFixed(2)} (the floor programs IPVS only; the cold sync also adds the VIPs, their routes, the ipsets and the chains)`,
          `      cold sync ${Math.round(d['coldSyncMs'] ?? NaN)} ms, ipvsadm --restore ${Math.round(d['nftFloorMs'] ?? NaN)} ms`,
          `      coldSync / state floor = ${((d['coldSyncMs'] ?? NaN) / (d['stateFloorMs'] ?? NaN)).toFixed(2)} (the same state through ipvsadm, ip, ipset and iptables restores: ${Math.round(d['stateFloorMs'] ?? NaN)} ms)`,
          `      one endpoint change: p50 ${(d['endpointChangeP50Ms'] ?? NaN).toFixed(0)} ms, p99 ${(d['endpointChangeP99Ms'] ?? NaN).toFixed(0)} ms`,
          verdict('noopResyncKernelWrites', d['noopResyncKernelWrites'] ?? NaN, d['noopResyncKernelWrites'] === 0, '0'),
        ].join('\n') + '\n',
      );
    }
    return;
  }
  const num = (flag: string, d: number): number => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : d);
  const services = num('--services', smoke ? 300 : 10_000);
  const perService = num('--endpoints', 5);
  const changes = num('--changes', smoke ? 20 : 200);
  const log = (s: string): void => {
    process.stderr.write(`bench proxy: ${s}\n`);
  };
  const resyncS = smoke ? 5 : 15;
  const d = await daemonPhase(services, perService, changes, resyncS, log);
  // kube-proxy side by side: the same objects, the same measurements, one after the other.
  const kpBin = args.includes('--no-kube-proxy') ? { missing: '--no-kube-proxy' } : kubeProxyBinary();
  let kp: KubeProxyFigures | undefined;
  if (typeof kpBin === 'string') kp = await kubeProxyPhase(kpBin, benchObjects(services, perService), services, perService, changes, resyncS, log);
  else log(`kube-proxy not measured: ${kpBin.missing}`);
  const crrBoth: CrrResult = args.includes('--no-crr') ? { plain: {}, counters: {}, spread: {}, spreadCounters: {}, kubeProxy: {}, kubeProxySpread: {} } : await crrPhase(smoke ? [100] : [1000, 10_000, 30_000], smoke ? 0.3 : 2, log, typeof kpBin === 'string' ? kpBin : undefined);
  const crr: Record<string, number> = crrBoth.plain;
  const top = String(Math.max(...Object.keys(crr).map(Number)));
  const kubeProxy = kp ? { ...kp, crrRatio: crrBoth.kubeProxy[top] ?? NaN, crrRatioSpread: crrBoth.kubeProxySpread[top] } : undefined;
  const result = { ...d, crrRatio: crr, crrRatioSpread: crrBoth.spread, crrRatioWithCounters: crrBoth.counters, crrRatioWithCountersSpread: crrBoth.spreadCounters, ...(kubeProxy ? { kubeProxy } : {}) };
  if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else if (smoke) process.stdout.write(`smoke size (figures only; the targets apply at 10,000 services): ${JSON.stringify(result)}\n`);
  else {
    const biggest = crr[String(Math.max(...Object.keys(crr).map(Number)))] ?? NaN;
    const lines = [
      `services ${d['services']}, endpoints ${d['endpoints']}`,
      verdict('coldSyncMs', d['coldSyncMs'] ?? NaN, (d['coldSyncMs'] ?? Infinity) <= 2000, '<= 2000 ms'),
      verdict('coldSync / nftFloor', (d['coldSyncMs'] ?? NaN) / (d['nftFloorMs'] ?? NaN), (d['coldSyncMs'] ?? Infinity) <= 1.5 * (d['nftFloorMs'] ?? 0), '<= 1.5'),
      verdict('endpointChangeP99Ms', d['endpointChangeP99Ms'] ?? NaN, (d['endpointChangeP99Ms'] ?? Infinity) <= 20, '<= 20 ms'),
      verdict('noopResyncKernelWrites', d['noopResyncKernelWrites'] ?? NaN, d['noopResyncKernelWrites'] === 0, '0'),
      verdict('rssMiB (steady state)', d['rssMiB'] ?? NaN, (d['rssMiB'] ?? Infinity) <= 150, '<= 150'),
      `      rss right after the cold sync ${Math.round(d['rssAfterColdSyncMiB'] ?? NaN)} MiB, peak ${Math.round(d['rssPeakMiB'] ?? NaN)} MiB`,
      verdict('idleCpuMsPerMin (proxy only, 10k services)', d['idleCpuMsPerMin'] ?? NaN, (d['idleCpuMsPerMin'] ?? Infinity) <= 120, '<= 120 ms/min'),
      `      no-op resync: ${Math.round(d['noopResyncCpuMs'] ?? NaN)} ms of daemon CPU over the resync period, ${Math.round(d['noopResyncOwnCpuMs'] ?? NaN)} ms of it beyond the idle rate`,
      verdict(`crrRatio at ${Math.max(...Object.keys(crr).map(Number))}`, biggest, biggest >= 0.95, '>= 0.95'),
      verdict(`crrRatio at ${Math.max(...Object.keys(crr).map(Number))} with traffic counters`, crrBoth.counters[String(Math.max(...Object.keys(crr).map(Number)))] ?? NaN, (crrBoth.counters[String(Math.max(...Object.keys(crr).map(Number)))] ?? 0) >= 0.95, '>= 0.95'),
      ...(kubeProxy
        ? [
            `kube-proxy (nftables mode, same objects, same run): cold sync ${Math.round(kubeProxy.coldSyncMs)} ms, endpoint change p50 ${kubeProxy.endpointChangeP50Ms.toFixed(0)} / p99 ${kubeProxy.endpointChangeP99Ms.toFixed(0)} ms, no-op resync ${Math.round(kubeProxy.noopResyncCpuMs)} ms CPU, idle ${Math.round(kubeProxy.idleCpuMsPerMin)} ms/min, RSS ${Math.round(kubeProxy.rssMiB)} MiB, crr ${kubeProxy.crrRatio.toFixed(3)}`,
            verdict('coldSync ours / kube-proxy', (d['coldSyncMs'] ?? NaN) / kubeProxy.coldSyncMs, (d['coldSyncMs'] ?? Infinity) <= kubeProxy.coldSyncMs / 10, '<= 0.1'),
            verdict('endpointChangeP99 ours / kube-proxy', (d['endpointChangeP99Ms'] ?? NaN) / kubeProxy.endpointChangeP99Ms, (d['endpointChangeP99Ms'] ?? Infinity) <= kubeProxy.endpointChangeP99Ms / 5, '<= 0.2'),
            verdict('rss ours / kube-proxy', (d['rssMiB'] ?? NaN) / kubeProxy.rssMiB, (d['rssMiB'] ?? Infinity) <= kubeProxy.rssMiB, '<= 1'),
            verdict('noopResyncCpu ours / cold sync CPU (approx.: cold sync wall time)', (d['noopResyncOwnCpuMs'] ?? NaN) / (d['coldSyncMs'] ?? NaN), (d['noopResyncOwnCpuMs'] ?? Infinity) <= 0.05 * (d['coldSyncMs'] ?? 0), '<= 0.05'),
          ]
        : ['kube-proxy: not measured (see above)']),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
}
