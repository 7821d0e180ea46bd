/**
 * npm run bench -- netpol [--json] [--smoke] [--backend iptables|nftables] [--namespaces N] [--pods-per-ns P] [--local L] [--changes C] [--rounds R] [--profile DIR]
 * For each firewall backend (both unless --backend names one), one after the other in one run:
 * the real daemon (firewall only) in a throwaway netns against the API fixture preloaded with N
 * namespaces × P pods and ten policies per namespace, L pods on this node. Measures the full sync, pod
 * added → enforced (API write → the daemon's kernel commit acknowledged), the rules and sets it made,
 * and what a periodic resync with nothing changed writes, and our floor (the same state restored by
 * ipset and iptables-restore from files, or `nft -f` of our tables as `nft list` prints them). Upstream
 * kube-router is not run: see the note it prints. JSON: one object per backend, keyed by its name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixtureClient } from '../fixture/apiserver/client.js';
import { DAEMON_NODE_FLAGS } from '../pkg/daemon/node-flags.js';
import { isFirewallChain, isFirewallSet } from '../pkg/netpol/model/names.js';
import { NETPOL_TABLE } from '../pkg/netpol/nft/render.js';
import { startInNetns } from '../test/ns-process.js';
import { KUBE_ROUTER_BIN } from '../test/paths.js';
import { BENCH_NODE, benchPod, localPodIP, netpolObjects } from './netpol-objects.js';
import { percentile, rssMiB, startBenchApi, verdict } from './util.js';

const sh = (...argv: string[]): string => execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 28 });
const logTime = (line: string): number => Date.parse(line.split(' ')[1] ?? '');

type Backend = 'iptables' | 'nftables';

export async function benchNetpol(args: readonly string[]): Promise<void> {
  const json = args.includes('--json');
  const asked = args.includes('--backend') ? args[args.indexOf('--backend') + 1] : undefined;
  if (asked !== undefined && asked !== 'iptables' && asked !== 'nftables') throw new Error(`--backend ${asked}: iptables or nftables`);
  const only: Backend | undefined = asked;
  const results: Record<string, Record<string, unknown>> = {};
  for (const backend of only !== undefined ? [only] : (['iptables', 'nftables'] as const)) {
    if (!json) process.stdout.write(`== ${backend} backend\n`);
    results[backend] = await benchBackend(args, backend);
    if (!json) process.stdout.write('\n');
  }
  if (json) process.stdout.write(JSON.stringify(results) + '\n');
  else if (results['iptables'] && results['nftables']) {
    const a = results['iptables'];
    const b = results['nftables'];
    process.stdout.write(`nftables / iptables: full sync ${(Number(b['fullSyncMs']) / Number(a['fullSyncMs'])).toFixed(2)}, pod change p99 ${(Number(b['podChangeP99Ms']) / Number(a['podChangeP99Ms'])).toFixed(2)}\n`);
    process.stdout.write(verdict('nftables fullSyncMs ≤ iptables fullSyncMs', Number(b['fullSyncMs']), Number(b['fullSyncMs']) <= Number(a['fullSyncMs']), `≤ ${String(a['fullSyncMs'])}`) + '\n');
  }
}

async function benchBackend(args: readonly string[], backend: Backend): Promise<Record<string, unknown>> {
  const json = args.includes('--json');
  const smoke = args.includes('--smoke');
  const num = (flag: string, full: number, small: number): number => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : smoke ? small : full);
  const namespaces = num('--namespaces', 100, 10);
  const podsPerNs = num('--pods-per-ns', 50, 10);
  const localPods = num('--local', 110, 20);
  const changes = num('--changes', 200, 20);
  const resyncS = smoke ? 8 : 20;
  const log = (s: string): void => {
    if (!json) process.stdout.write(`${s}\n`);
  };

  const rounds = num('--rounds', 5, 1);
  // --profile DIR: each round's daemon writes a V8 CPU profile there when it stops.
  const profileDir = args.includes('--profile') ? (args[args.indexOf('--profile') + 1] ?? '.') : undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const objs = netpolObjects(namespaces, podsPerNs, localPods);
  const policies = objs.filter((o) => o['kind'] === 'NetworkPolicy').length;
  const pods = objs.filter((o) => o['kind'] === 'Pod').length;
  log(`${policies} policies, ${pods} pods in ${namespaces} namespaces, ${localPods} on this node; ${rounds} round(s) of full sync and floor`);

  /**
   * One round: a fresh namespace with the API fixture and the daemon, its cold full sync; then the
   * floor of exactly the state it made, in another fresh namespace. The last round's daemon is kept
   * (its namespace, API and process are returned) for the pod changes and the resync.
   */
  const round = async (r: number, keep: boolean): Promise<{ fullSyncMs: number; fromListMs: number; floorMs: number; k: KernelFigures; daemon: ReturnType<typeof startInNetns>; ns: string; dir: string; procs: ReturnType<typeof startInNetns>[] }> => {
    const ns = `krt-b-${process.pid}-np${r}`;
    const dir = mkdtempSync(join(tmpdir(), 'krt-bench-np-'));
    spawnSync('ip', ['netns', 'delete', ns]);
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    const procs: ReturnType<typeof startInNetns>[] = [];
    let kept = false;
    try {
      procs.push(await startBenchApi(ns, dir, objs));
      const daemon = startInNetns(ns, [
        'node', ...DAEMON_NODE_FLAGS, ...(profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), KUBE_ROUTER_BIN, `--kubeconfig=${join(dir, 'kubeconfig')}`, `--hostname-override=${BENCH_NODE}`,
        '--run-router=false', '--run-service-proxy=false', '--run-firewall=true', '--service-cluster-ip-range=198.18.128.0/17',
        `--iptables-sync-period=${resyncS}s`, '--health-port=0', `--metrics-port=${keep ? 20245 : 0}`, '--cache-sync-timeout=5m', '-v=2',
        ...(backend === 'nftables' ? ['--use-nftables-for-netpol'] : []),
      ]);
      procs.push(daemon);
      await daemon.waitForOutput(/kernel committed mode=full/, 300_000);
      const lines = daemon.output().split('\n');
      const synced = logTime(lines.find((l) => l.includes('informer caches synced')) ?? '');
      const syncedLine = lines.find((l) => l.includes('informer caches synced')) ?? '';
      const fullSyncMs = logTime(lines.find((l) => l.includes('kernel committed mode=full')) ?? '') - synced;
      // Also from the start of the informers' lists (the daemon logs how long they took): work moved
      // into the list phase shows here, not in the full sync.
      const fromListMs = fullSyncMs + Number(/ ms=(\d+)/.exec(syncedLine)?.[1] ?? NaN);
      const k = backend === 'iptables' ? kernelIptables(ns, dir) : kernelNft(ns, dir);
      // Our floor: exactly the state the daemon made, restored from files into a fresh namespace by the
      // kernel tools alone.
      const floorNs = `${ns}-floor`;
      spawnSync('ip', ['netns', 'delete', floorNs]);
      sh('ip', 'netns', 'add', floorNs);
      const f0 = performance.now();
      for (const argv of k.floor) sh('ip', 'netns', 'exec', floorNs, ...argv);
      const floorMs = performance.now() - f0;
      spawnSync('ip', ['netns', 'delete', floorNs]);
      log(`round ${r}: full sync ${fullSyncMs} ms (informers synced → every chain and set committed; ${fromListMs} ms from the start of the lists), floor ${floorMs.toFixed(0)} ms (${k.floorText}), ratio ${(fullSyncMs / floorMs).toFixed(2)}; ${lines.find((l) => l.includes('netpol sync'))?.replace(/^.*netpol sync/, 'netpol sync') ?? ''}`);
      kept = keep;
      return { fullSyncMs, fromListMs, floorMs, k, daemon, ns, dir, procs };
    } finally {
      if (!kept) {
        for (const p of procs) await p.stop();
        spawnSync('ip', ['netns', 'delete', ns]);
        rmSync(dir, { recursive: true, force: true });
      }
    }
  };

  const measured: { fullSyncMs: number; fromListMs: number; floorMs: number }[] = [];
  for (let r = 1; r < rounds; r++) {
    const x = await round(r, false);
    measured.push({ fullSyncMs: x.fullSyncMs, fromListMs: x.fromListMs, floorMs: x.floorMs });
  }
  const last = await round(rounds, true);
  const { daemon, ns, dir, procs, k } = last;
  measured.push({ fullSyncMs: last.fullSyncMs, fromListMs: last.fromListMs, floorMs: last.floorMs });
  try {
    const median = (xs: readonly number[]): number => percentile([...xs], 50);
    const fullSyncMs = median(measured.map((m) => m.fullSyncMs));
    const floorMs = median(measured.map((m) => m.floorMs));
    const ratio = median(measured.map((m) => m.fullSyncMs / m.floorMs));
    log(`kernel: ${k.rules} rules in our chains (and jumps), ${k.sets} sets`);
    const fromListMs = median(measured.map((m) => m.fromListMs));
    log(`medians of ${rounds} round(s): full sync ${fullSyncMs.toFixed(0)} ms (${fromListMs.toFixed(0)} ms from the start of the lists), floor ${floorMs.toFixed(0)} ms; median of per-round ratios ${ratio.toFixed(2)} (rounds ${measured.map((m) => `${m.fullSyncMs}/${m.floorMs.toFixed(0)}`).join(', ')})`);
    log(`upstream kube-router: not run. Its Go module at v2.11.x cannot be fetched here (the module proxy answers 403 "not available" for v2.11.0; the only version it serves is v2.1.0, which has known security reports and no nftables firewall), so upstreamIptables and upstreamNftables are absent`);

    // Pods added on this node, one at a time: API write → the daemon's commit of the sets acknowledged.
    const client = new FixtureClient({ socketPath: join(dir, 'api.sock') });
    const lat: number[] = [];
    for (let k = 0; k < changes; k++) {
      const nsIdx = k % namespaces;
      const pod = benchPod(nsIdx, 1000 + k, localPodIP(localPods + k), BENCH_NODE, `new-${k}`);
      const mark = daemon.output().length;
      const t0 = Date.now();
      await client.create(pod);
      const end = Date.now() + 5000;
      let m: RegExpExecArray | null = null;
      while (!(m = /^V2 (\S+) kube-router\/netpol kernel committed mode=partial/m.exec(daemon.output().slice(mark))) && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
      if (!m) throw new Error(`pod ${k}: no commit seen\n${daemon.output().slice(-1500)}`);
      lat.push(logTime(`x ${m[1] as string}`) - t0);
    }
    log(`${changes} pods added → enforced: p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms, max ${Math.max(...lat)} ms`);
    // Of that, the daemon's own syncs (from the sync's start to the commit; the rest is the API write and the watch).
    const own = [...daemon.output().matchAll(/netpol sync trigger=\S+ mode=partial .*? ms=(\d+) computeMs=(\d+) readMs=\d+ setsMs=(\d+) rulesMs=(\d+)/g)].slice(-changes);
    const col = (i: number): number[] => own.map((m) => Number(m[i]));
    if (own.length > 0) log(`  the daemon's ${own.length} partial syncs: p50 ${percentile(col(1), 50)} / p99 ${percentile(col(1), 99)} ms (compute p50 ${percentile(col(2), 50)}, sets p50 ${percentile(col(3), 50)}, rules p50 ${percentile(col(4), 50)} ms)`);

    // A periodic resync with nothing changed: it reads the kernel back and must write nothing.
    const before = daemon.output().length;
    await daemon.waitForOutput(new RegExp(`[\\s\\S]{${before}}[\\s\\S]*netpol sync trigger=periodic`), (resyncS + 15) * 1000);
    const resyncLine = daemon.output().slice(before).split('\n').find((l) => l.includes('trigger=periodic')) ?? '';
    const noopResyncKernelWrites = Number(/writes=(\d+)/.exec(resyncLine)?.[1] ?? NaN);
    log(`no-op resync: ${resyncLine.slice(resyncLine.indexOf('netpol sync'))}`);
    const mem = rssMiB(daemon.pid);
    log(`daemon RSS ${mem.rss.toFixed(0)} MiB (peak ${mem.peak.toFixed(0)} MiB)`);

    const result = { backend, policies, pods, fullSyncMs, fromListStartMs: fromListMs, floorMs: Math.round(floorMs), fullSyncToFloor: ratio, rounds: measured.map((m) => ({ fullSyncMs: m.fullSyncMs, fromListStartMs: m.fromListMs, floorMs: Math.round(m.floorMs) })), upstream: 'not run: github.com/cloudnativelabs/kube-router/v2@v2.11.x cannot be fetched from the Go module proxy (403)', podChangeP50Ms: percentile(lat, 50), podChangeP99Ms: percentile(lat, 99), rules: k.rules, sets: k.sets, noopResyncKernelWrites, rssMiB: Math.round(mem.rss) };
    if (!json) {
      log('');
      log(verdict('fullSyncMs', fullSyncMs, fullSyncMs <= 1000, '≤ 1000'));
      log(verdict('fullSync / floor (median of per-round ratios)', ratio, ratio <= 1.5, '≤ 1.5'));
      log(verdict('podChangeP99Ms', result.podChangeP99Ms, result.podChangeP99Ms <= 50, '≤ 50'));
      log(verdict('podChangeP99Ms (nftables target)', result.podChangeP99Ms, result.podChangeP99Ms <= 20, '≤ 20'));
      log(verdict('rules', k.rules, k.rules <= 10_000, '≤ 10000'));
      log(verdict('noopResyncKernelWrites', noopResyncKernelWrites, noopResyncKernelWrites === 0, '0'));
    }
    return result;
  } finally {
    for (const p of procs) await p.stop();
    spawnSync('ip', ['netns', 'delete', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

interface KernelFigures {
  readonly rules: number;
  readonly sets: number;
  /** Commands that restore the same state into an empty namespace. */
  readonly floor: readonly string[][];
  readonly floorText: string;
}

function kernelIptables(ns: string, dir: string): KernelFigures {
  const save = sh('ip', 'netns', 'exec', ns, 'iptables-save', '-t', 'filter');
  const rules = save.split('\n').filter((l) => l.startsWith('-A ') && (isFirewallChain(l.split(' ')[1] ?? '') || l.includes('KUBE-ROUTER-'))).length;
  const sets = sh('ip', 'netns', 'exec', ns, 'ipset', 'list', '-n').split('\n').filter(isFirewallSet).length;
  const setLines = sh('ip', 'netns', 'exec', ns, 'ipset', 'save').split('\n').filter((l) => isFirewallSet(l.split(' ')[1] ?? ''));
  writeFileSync(join(dir, 'floor.ipset'), setLines.join('\n') + '\n');
  writeFileSync(join(dir, 'floor.iptables'), save);
  return {
    rules,
    sets,
    floor: [['ipset', 'restore', '-f', join(dir, 'floor.ipset')], ['iptables-restore', join(dir, 'floor.iptables')]],
    floorText: `ipset restore (${setLines.length} lines) + iptables-restore (${save.split('\n').length} lines)`,
  };
}

function kernelNft(ns: string, dir: string): KernelFigures {
  const tables = sh('ip', 'netns', 'exec', ns, 'nft', 'list', 'tables').split('\n').filter((l) => l.includes(NETPOL_TABLE)).map((l) => l.trim().split(/\s+/).slice(1));
  let text = '';
  for (const [family = 'ip', name = ''] of tables) text += sh('ip', 'netns', 'exec', ns, 'nft', 'list', 'table', family, name);
  const lines = text.split('\n');
  let inChain = false;
  let rules = 0;
  for (const l of lines.map((x) => x.trim())) {
    if (l.startsWith('chain ')) inChain = true;
    else if (l === '}') inChain = false;
    else if (inChain && l !== '' && !l.startsWith('type ')) rules++;
  }
  const sets = lines.filter((l) => /^\s*set /.test(l)).length;
  writeFileSync(join(dir, 'floor.nft'), text);
  return { rules, sets, floor: [['nft', '-f', join(dir, 'floor.nft')]], floorText: `nft -f of our tables as nft lists them (${lines.length} lines)` };
}
