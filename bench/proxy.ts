/**
 * npm run bench -- proxy [--json] [--smoke] [--services N] [--endpoints E] [--changes C]
 * The real daemon (proxy only) in a throwaway netns against the API fixture preloaded with N Services
 * × E endpoints; then the datapath: connections per second through a ClusterIP vs to the pod directly.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FixtureClient } from '../fixture/apiserver/client.js';
import { toKubeObject } from '../pkg/k8s/object.js';
import { parseEndpointSlice } from '../pkg/proxy/model/parse-endpoint-slice.js';
import { parseService } from '../pkg/proxy/model/parse-service.js';
import { renderFull } from '../pkg/proxy/nft/render.js';
import { ServiceTracker } from '../pkg/proxy/tracker.js';
import { buildNodeContext } from '../pkg/proxy/node-context.js';
import type { CIDR } from '../pkg/util/ip.js';
import { startInNetns } from '../test/ns-process.js';
import { FIXTURE_BIN, KUBE_ROUTER_BIN, DIST } from '../test/paths.js';
import { benchObjects, benchSlice, endpointIP, clusterIP } from './proxy-objects.js';
import { cpuMs, percentile, rssMiB, verdict } from './util.js';
import type { JsonObject } from '../fixture/apiserver/store.js';

const sh = (...argv: string[]): string => execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 28 });

function renderScript(objs: readonly JsonObject[]): string {
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
  const node = buildNodeContext('bench-node', [], [], [4], { bindOnAllIP: false });
  tracker.recompute(node);
  return renderFull(tracker.model(4, node), { opts: { masqueradeAll: false, rejectUnserved: true }, isLocal: () => false }).script;
}

function logTime(line: string): number {
  return Date.parse(line.split(' ')[1] ?? '');
}

async function daemonPhase(services: number, perService: number, changes: number, resyncS: number, log: (s: string) => void): Promise<Record<string, number>> {
  const ns = `krt-b-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'krt-bench-'));
  spawnSync('ip', ['netns', 'delete', ns]);
  sh('ip', 'netns', 'add', ns);
  sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  const procs: ReturnType<typeof startInNetns>[] = [];
  try {
    log(`generating ${services} services x ${perService} endpoints`);
    const objs = benchObjects(services, perService);
    writeFileSync(join(dir, 'preload.json'), JSON.stringify(objs));
    writeFileSync(join(dir, 'kubeconfig'), ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: b', '  cluster: {server: "http://127.0.0.1:16443", insecure-skip-tls-verify: true}', 'users:', '- name: b', '  user: {}', 'contexts:', '- name: b', '  context: {cluster: b, user: b}', 'current-context: b', ''].join('\n'));
    const api = startInNetns(ns, ['node', '--max-old-space-size=4096', FIXTURE_BIN, '--listen', '127.0.0.1:16443', '--socket', join(dir, 'api.sock'), '--preload', join(dir, 'preload.json'), '--bookmark-ms', '5000']);
    procs.push(api);
    await api.waitForOutput(/ready/, 120_000);
    log('API fixture loaded; starting kube-router (service proxy only)');
    const daemon = startInNetns(ns, ['node', KUBE_ROUTER_BIN, `--kubeconfig=${join(dir, 'kubeconfig')}`, '--hostname-override=bench-node', '--run-router=false', '--run-firewall=false', '--service-cluster-ip-range=198.18.128.0/17', `--ipvs-sync-period=${resyncS}s`, '--health-port=0', '--metrics-port=20245', '--cache-sync-timeout=5m', '-v=1']);
    procs.push(daemon);
    await daemon.waitForOutput(/proxy sync trigger=periodic mode=full/, 300_000);
    const lines = daemon.output().split('\n');
    const synced = logTime(lines.find((l) => l.includes('informer caches synced')) ?? '');
    const full = lines.find((l) => l.includes('mode=full')) ?? '';
    const coldSyncMs = logTime(full) - synced;
    const mem = rssMiB(daemon.pid);
    log(`cold sync ${coldSyncMs} ms (${full.slice(full.indexOf('proxy sync'))}); RSS ${mem.rss.toFixed(0)} MiB, peak ${mem.peak.toFixed(0)} MiB`);

    // The floor: nft -f alone, same rendered ruleset, fresh namespace.
    const floorNs = `${ns}-floor`;
    spawnSync('ip', ['netns', 'delete', floorNs]);
    sh('ip', 'netns', 'add', floorNs);
    const script = renderScript(objs);
    writeFileSync(join(dir, 'ruleset.nft'), script);
    const f0 = performance.now();
    sh('ip', 'netns', 'exec', floorNs, 'nft', '-f', join(dir, 'ruleset.nft'));
    const nftFloorMs = performance.now() - f0;
    sh('ip', 'netns', 'delete', floorNs);
    log(`nft -f floor: ${nftFloorMs.toFixed(0)} ms for ${script.split('\n').length} lines`);

    // One-endpoint changes, end to end: API write → kernel element seen by `nft monitor`.
    const monitor = spawn('ip', ['netns', 'exec', ns, 'nft', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let monitorOut = '';
    let wake: (() => void) | undefined;
    monitor.stdout.on('data', (d: Buffer) => {
      monitorOut += d.toString();
      wake?.();
    });
    // `nft monitor` loads its cache before it listens (a second or more at 10k): wait until it sees a table come and go.
    for (let tries = 0; !monitorOut.includes('krt-bench-probe'); tries++) {
      if (tries > 300) throw new Error('nft monitor never started');
      sh('ip', 'netns', 'exec', ns, 'nft', 'add table ip krt-bench-probe; delete table ip krt-bench-probe');
      await new Promise((r) => setTimeout(r, 100));
    }
    const client = new FixtureClient({ socketPath: join(dir, 'api.sock') });
    const lat: number[] = [];
    for (let k = 0; k < changes; k++) {
      const i = (k * 7919) % services;
      const newIP = endpointIP(i, 0, perService, k + 1);
      const ips = [newIP, ...Array.from({ length: perService - 1 }, (_, j) => endpointIP(i, j + 1, perService))];
      const cur = await client.get('EndpointSlice', 'bench', `svc-${i}-1`);
      const mark = monitorOut.length;
      const t0 = performance.now();
      await client.update({ ...benchSlice(i, ips), metadata: { ...(benchSlice(i, ips)['metadata'] as JsonObject), resourceVersion: (cur?.['metadata'] as JsonObject)['resourceVersion'] } });
      const end = Date.now() + 5000;
      while (!monitorOut.slice(mark).includes(`: ${newIP} . 8080`) && Date.now() < end) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
      if (Date.now() >= end) throw new Error(`change ${k}: ${newIP} never reached the kernel\n${daemon.output().slice(-1500)}`);
      lat.push(performance.now() - t0);
    }
    log(`${changes} endpoint changes: p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms`);

    // A periodic resync with nothing changed.
    const before = daemon.output().length;
    const mark = monitorOut.length;
    const c0 = cpuMs(daemon.pid);
    await daemon.waitForOutput(new RegExp(`[\\s\\S]{${before}}[\\s\\S]*proxy sync trigger=periodic`), (resyncS + 10) * 1000);
    const cpu = cpuMs(daemon.pid) - c0;
    await new Promise((r) => setTimeout(r, 300));
    const noopWrites = monitorOut.slice(mark).split('\n').filter((l) => l.includes('kube-router-proxy')).length;
    const resyncLine = daemon.output().slice(before).split('\n').find((l) => l.includes('trigger=periodic')) ?? '';
    log(`no-op resync: ${resyncLine.slice(resyncLine.indexOf('proxy sync'))}; kernel writes seen ${noopWrites}; daemon CPU ${cpu.toFixed(0)} ms`);
    monitor.kill();
    return { services, endpoints: services * perService, coldSyncMs, nftFloorMs, endpointChangeP50Ms: percentile(lat, 50), endpointChangeP99Ms: percentile(lat, 99), noopResyncKernelWrites: noopWrites, noopResyncCpuMs: cpu, rssMiB: mem.rss, rssPeakMiB: mem.peak };
  } finally {
    for (const p of procs) await p.stop();
    spawnSync('ip', ['netns', 'delete', ns]);
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

/** New-connection rate through a ClusterIP ÷ to the pod directly, with N services loaded. */
async function crrPhase(counts: readonly number[], seconds: number, log: (s: string) => void): Promise<Record<string, number>> {
  const crr = crrBinary();
  const node = `krt-b-${process.pid}-dp`;
  const pod = `krt-b-${process.pid}-pod`;
  const dir = mkdtempSync(join(tmpdir(), 'krt-crr-'));
  const out: Record<string, number> = {};
  for (const n of [node, pod]) {
    spawnSync('ip', ['netns', 'delete', n]);
    sh('ip', 'netns', 'add', n);
    sh('ip', '-n', n, 'link', 'set', 'lo', 'up');
  }
  const server = startInNetns(pod, [crr, 'server', '8080']);
  try {
    sh('ip', '-n', node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod);
    sh('ip', '-n', node, 'addr', 'add', '198.18.0.1/24', 'dev', 'eth0');
    sh('ip', '-n', pod, 'addr', 'add', '198.18.0.2/24', 'dev', 'eth0');
    sh('ip', '-n', node, 'link', 'set', 'eth0', 'up');
    sh('ip', '-n', pod, 'link', 'set', 'eth0', 'up');
    // A locally sent packet is routed before the nat hook sees it: the service range needs a route
    // (a node has its default route for this).
    sh('ip', '-n', node, 'route', 'add', '198.18.128.0/17', 'dev', 'eth0');
    await server.waitForOutput(/ready/);
    for (const count of counts) {
      const objs: JsonObject[] = [];
      for (let i = 0; i < count; i++) {
        objs.push({ kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'bench' }, spec: { clusterIP: clusterIP(i), ports: [{ name: 'http', port: 80 }] } });
        objs.push(benchSlice(i, [i === count - 1 ? '198.18.0.2' : endpointIP(i, 0, 1)]));
      }
      writeFileSync(join(dir, 'r.nft'), renderScript(objs));
      sh('ip', 'netns', 'exec', node, 'nft', '-f', join(dir, 'r.nft'));
      const rate = (addr: string, port: string): number => Number(sh('ip', 'netns', 'exec', node, crr, 'client', addr, port, String(seconds)).split(' ')[0]);
      const direct: number[] = [];
      const vip: number[] = [];
      for (let r = 0; r < 2; r++) {
        direct.push(rate('198.18.0.2', '8080'));
        vip.push(rate(clusterIP(count - 1), '80'));
      }
      const avg = (x: number[]): number => x.reduce((a, b) => a + b, 0) / x.length;
      out[String(count)] = avg(vip) / avg(direct);
      log(`crr with ${count} services: direct ${avg(direct).toFixed(0)}/s, via ClusterIP ${avg(vip).toFixed(0)}/s, ratio ${(avg(vip) / avg(direct)).toFixed(3)}`);
      sh('ip', 'netns', 'exec', node, 'nft', 'delete', 'table', 'ip', 'kube-router-proxy');
    }
  } finally {
    await server.stop();
    for (const n of [node, pod]) spawnSync('ip', ['netns', 'delete', n]);
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export async function benchProxy(args: readonly string[]): Promise<void> {
  const json = args.includes('--json');
  const smoke = args.includes('--smoke');
  const num = (flag: string, d: number): number => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : d);
  const services = num('--services', smoke ? 300 : 10_000);
  const perService = num('--endpoints', 5);
  const changes = num('--changes', smoke ? 20 : 200);
  const log = (s: string): void => {
    process.stderr.write(`bench proxy: ${s}\n`);
  };
  const d = await daemonPhase(services, perService, changes, smoke ? 5 : 15, log);
  const crr = await crrPhase(smoke ? [100] : [1000, 10_000, 30_000], smoke ? 0.5 : 3, log);
  const result = { ...d, crrRatio: crr };
  if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else {
    const biggest = crr[String(Math.max(...Object.keys(crr).map(Number)))] ?? NaN;
    const lines = [
      `services ${d['services']}, endpoints ${d['endpoints']}`,
      verdict('coldSyncMs', d['coldSyncMs'] ?? NaN, (d['coldSyncMs'] ?? Infinity) <= 2000, '<= 2000 ms'),
      verdict('coldSync / nftFloor', (d['coldSyncMs'] ?? NaN) / (d['nftFloorMs'] ?? NaN), (d['coldSyncMs'] ?? Infinity) <= 1.5 * (d['nftFloorMs'] ?? 0), '<= 1.5'),
      verdict('endpointChangeP99Ms', d['endpointChangeP99Ms'] ?? NaN, (d['endpointChangeP99Ms'] ?? Infinity) <= 20, '<= 20 ms'),
      verdict('noopResyncKernelWrites', d['noopResyncKernelWrites'] ?? NaN, d['noopResyncKernelWrites'] === 0, '0'),
      verdict('rssMiB', d['rssMiB'] ?? NaN, (d['rssMiB'] ?? Infinity) <= 150, '<= 150'),
      verdict(`crrRatio at ${Math.max(...Object.keys(crr).map(Number))}`, biggest, biggest >= 0.95, '>= 0.95'),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
}
