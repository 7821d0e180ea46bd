/**
 * kube-proxy (the real one, built from the same k8s.io/kubernetes release as the lab's control plane,
 * `--proxy-mode=nftables`) in its own namespace against the same API fixture and objects as our daemon,
 * measured the same way: cold sync from its informers synced to its first full IPv4 sync done (it
 * logs that when nft has acknowledged the transaction), endpoint changes from the API write to the
 * sync that carried them, CPU of a periodic sync with nothing changed beyond its idle rate, RSS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixtureClient } from '../fixture/apiserver/client.js';
import type { JsonObject } from '../fixture/apiserver/store.js';
import { builtControlPlane } from '../lab/control-plane/binaries.js';
import { startInNetns, type NsProcess } from '../test/ns-process.js';
import { benchSlice, endpointIP } from './proxy-objects.js';
import { cpuMs, percentile, rssMiB, startBenchApi } from './util.js';

const sh = (...argv: string[]): string => execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 28 });

/** The kube-proxy binary, or why there is none. */
export function kubeProxyBinary(): string | { readonly missing: string } {
  const cp = builtControlPlane();
  return cp ? cp.bin('kube-proxy') : { missing: 'kube-proxy is not built (scripts/setup.sh builds it with the control plane)' };
}

/** klog's `I1202 17:07:07.102235` (local time, no year) as epoch ms. */
export function klogTime(line: string): number {
  const m = /^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})/.exec(line);
  if (!m) return NaN;
  const now = new Date();
  return new Date(now.getFullYear(), Number(m[1]) - 1, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]) / 1000).getTime();
}

/** Its configuration: nftables mode, our sync period, conntrack left alone (a namespace cannot set it), JSON to the fixture. */
export function kubeProxyConfig(dir: string, node: string, resyncS: number, clusterCIDR: string): string {
  return [
    'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
    'kind: KubeProxyConfiguration',
    'clientConnection:',
    `  kubeconfig: ${join(dir, 'kubeconfig')}`,
    '  contentType: application/json',
    'mode: nftables',
    `hostnameOverride: ${node}`,
    `clusterCIDR: ${clusterCIDR}`,
    'metricsBindAddress: 127.0.0.1:10249',
    'healthzBindAddress: 127.0.0.1:10256',
    'conntrack:',
    '  maxPerCore: 0',
    '  min: 0',
    '  tcpEstablishedTimeout: 0s',
    '  tcpCloseWaitTimeout: 0s',
    'nftables:',
    `  syncPeriod: ${resyncS}s`,
    '  minSyncPeriod: 1s',
    '',
  ].join('\n');
}

export function startKubeProxy(bin: string, ns: string, dir: string, node: string, resyncS: number, clusterCIDR: string): NsProcess {
  writeFileSync(join(dir, 'kube-proxy.yaml'), kubeProxyConfig(dir, node, resyncS, clusterCIDR));
  return startInNetns(ns, [bin, `--config=${join(dir, 'kube-proxy.yaml')}`, '--v=2']);
}

const SYNC_DONE = /"SyncProxyRules complete" ipFamily="IPv4"/;

export interface KubeProxyFigures {
  readonly coldSyncMs: number;
  readonly endpointChangeP50Ms: number;
  readonly endpointChangeP99Ms: number;
  readonly noopResyncCpuMs: number;
  readonly idleCpuMsPerMin: number;
  readonly rssMiB: number;
}

export async function kubeProxyPhase(bin: string, objs: readonly JsonObject[], services: number, perService: number, changes: number, resyncS: number, log: (s: string) => void): Promise<KubeProxyFigures> {
  const ns = `krt-b-${process.pid}-kp`;
  const dir = mkdtempSync(join(tmpdir(), 'krt-bench-kp-'));
  spawnSync('ip', ['netns', 'delete', ns]);
  sh('ip', 'netns', 'add', ns);
  sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  const procs: NsProcess[] = [];
  try {
    procs.push(await startBenchApi(ns, dir, objs));
    const kp = startKubeProxy(bin, ns, dir, 'bench-node', resyncS, '198.18.64.0/18');
    procs.push(kp);
    await kp.waitForOutput(SYNC_DONE, 300_000);
    const lines = kp.output().split('\n');
    const doneAt = lines.findIndex((l) => SYNC_DONE.test(l));
    const synced = lines.slice(0, doneAt).filter((l) => l.includes('"Caches are synced"')).pop() ?? '';
    const coldSyncMs = klogTime(lines[doneAt] ?? '') - klogTime(synced);
    const mem = rssMiB(kp.pid);
    log(`kube-proxy cold sync ${coldSyncMs} ms (informers synced → first IPv4 sync complete: ${/elapsed="[^"]+"/.exec(lines[doneAt] ?? '')?.[0] ?? ''}); RSS ${mem.rss.toFixed(0)} MiB`);

    // The same endpoint changes as ours: API write → the end of the sync that started after it.
    const client = new FixtureClient({ socketPath: join(dir, 'api.sock') });
    const lat: number[] = [];
    for (let k = 0; k < changes; k++) {
      const i = (k * 7919) % services;
      const ips = [endpointIP(i, 0, perService, k + 1), ...Array.from({ length: perService - 1 }, (_, j) => endpointIP(i, j + 1, perService))];
      const cur = await client.get('EndpointSlice', 'bench', `svc-${i}-1`);
      const mark = kp.output().length;
      const t0 = Date.now();
      await client.update({ ...benchSlice(i, ips), metadata: { ...(benchSlice(i, ips)['metadata'] as JsonObject), resourceVersion: (cur?.['metadata'] as JsonObject)['resourceVersion'] } });
      const end = Date.now() + 30_000;
      let done: number | undefined;
      // Only new output is scanned (its log at 10,000 services is large: re-reading it all would load the CPU we measure on).
      let seen = mark;
      let started = false;
      let partial = '';
      while (done === undefined && Date.now() < end) {
        const out = kp.output();
        if (out.length < seen) seen = 0; // (the kept output was cut to its newer half)
        const chunk = partial + out.slice(seen);
        seen = out.length;
        const lines = chunk.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          if (!started && /"Syncing nftables rules" ipFamily="IPv4"/.test(l) && klogTime(l) >= t0 - 1) started = true;
          else if (started && SYNC_DONE.test(l)) {
            done = klogTime(l);
            break;
          }
        }
        if (done === undefined) await new Promise((r) => setTimeout(r, 5));
      }
      if (done === undefined) throw new Error(`kube-proxy: change ${k} not synced within 30 s\n${kp.output().slice(-1500)}`);
      lat.push(done - t0);
    }
    log(`kube-proxy ${changes} endpoint changes: p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms (its minSyncPeriod is 1 s, its default)`);

    // Idle between periodic syncs, then one periodic sync with nothing changed.
    const waitPeriodic = async (): Promise<void> => {
      const m = kp.output().length;
      const end = Date.now() + (resyncS + 15) * 1000;
      while (!SYNC_DONE.test(kp.output().slice(m)) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    };
    await waitPeriodic();
    await new Promise((r) => setTimeout(r, 1000));
    const idleS = Math.max(2, resyncS - 4);
    const i0 = cpuMs(kp.pid);
    const t0 = performance.now();
    const idleMark = kp.output().length;
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const idleCpu = cpuMs(kp.pid) - i0;
    const idleElapsed = performance.now() - t0;
    const idleClean = !SYNC_DONE.test(kp.output().slice(idleMark));
    const idleRate = idleCpu / idleElapsed;
    const c0 = cpuMs(kp.pid);
    const r0 = performance.now();
    await waitPeriodic();
    await new Promise((r) => setTimeout(r, 500));
    const cpu = cpuMs(kp.pid) - c0;
    const ownCpu = Math.max(0, cpu - idleRate * (performance.now() - r0));
    const steady = rssMiB(kp.pid);
    log(`kube-proxy idle ${(idleRate * 60_000).toFixed(0)} ms per minute${idleClean ? '' : ' (a sync ran meanwhile)'}; periodic sync with nothing changed: ${cpu.toFixed(0)} ms of CPU, ${ownCpu.toFixed(0)} ms beyond the idle rate; RSS ${steady.rss.toFixed(0)} MiB`);
    return { coldSyncMs, endpointChangeP50Ms: percentile(lat, 50), endpointChangeP99Ms: percentile(lat, 99), noopResyncCpuMs: ownCpu, idleCpuMsPerMin: idleClean ? idleRate * 60_000 : NaN, rssMiB: steady.rss };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    spawnSync('ip', ['netns', 'delete', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
