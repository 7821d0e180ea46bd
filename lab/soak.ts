#!/usr/bin/env node
/**
 * npm run soak -- [--minutes N] [--name LAB] [--json FILE]
 *
 * Continuous churn in a 2-node lab with BIRD as top-of-rack (Services and their endpoints, pods coming
 * and going, a NetworkPolicy edited, the BGP peer flapping, the API server restarted once), while each
 * daemon's RSS, V8 heap, open file descriptors, child processes and our kernel objects are sampled.
 * After a warm-up they must stay flat; at the end node-1's kernel state must equal what a fresh daemon
 * (a from-scratch render) programs. Exit 0 when every check holds, 1 otherwise.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from '../fixture/apiserver/index.js';
import { apply, client, destroyLab, nodeHealth, remove, restartApi, startDaemon, up, waitHealthy } from './lab.js';
import { netns, nodeName } from './plan.js';
import { ipn, nsRun } from './sh.js';
import type { LabState } from './state.js';

const args = process.argv.slice(2);
const opt = (n: string, d: string): string => (args.includes(n) ? (args[args.indexOf(n) + 1] ?? d) : d);
const minutes = Number(opt('--minutes', '5'));
const name = opt('--name', 'soak');
const jsonOut = args.includes('--json') ? opt('--json', 'soak.json') : undefined;
const say = (m: string): void => void process.stdout.write(`soak: ${m}\n`);

interface Sample {
  readonly t: number;
  readonly node: string;
  readonly rssMiB: number;
  readonly heapMiB: number;
  readonly fds: number;
  readonly children: number;
  readonly iptablesRules: number;
  readonly ipsets: number;
  readonly nftElements: number;
  readonly routes: number;
}

function procStatus(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

function childrenOf(pid: number): number {
  let n = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) n++;
    } catch {
      // the process ended meanwhile
    }
  }
  return n;
}

async function sample(st: LabState, i: number, t: number): Promise<Sample> {
  const node = nodeName(i);
  const pid = st.daemons[node] as number;
  const ns = netns.node(st.plan.name, i);
  const metrics = (await nsRun(ns, 'curl', '-s', '-m', '3', 'http://127.0.0.1:20245/metrics').catch(() => ({ stdout: '' }))).stdout;
  const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? 0);
  const ipt = (await nsRun(ns, 'iptables-save')).stdout.split('\n').filter((l) => /^-A (KUBE-ROUTER|KUBE-NWPLCY)/.test(l)).length;
  const sets = (await nsRun(ns, 'ipset', 'list', '-n')).stdout.split('\n').filter((l) => /^(KRT-|kube-router-)/.test(l)).length;
  const nft = (await nsRun(ns, 'nft', 'list', 'table', 'ip', 'kube-router-proxy').catch(() => ({ stdout: '' }))).stdout.split(/[,{]/).filter((x) => / : /.test(x) || /\d+\.\d+\.\d+\.\d+ \. /.test(x)).length;
  const routes = (await ipn(ns, 'route', 'show', 'proto', '44')).stdout.split('\n').filter((l) => l.trim() !== '').length;
  return { t, node, rssMiB: Math.round(procStatus(pid, 'VmRSS') / 1024), heapMiB: Math.round(heap / 1048576), fds: readdirSync(`/proc/${pid}/fd`).length, children: childrenOf(pid), iptablesRules: ipt, ipsets: sets, nftElements: nft, routes };
}

/** Our objects on a node, canonical: what must be equal between the churned daemon and a fresh one. */
async function kernelState(st: LabState, i: number): Promise<string> {
  const ns = netns.node(st.plan.name, i);
  const ipt = (await nsRun(ns, 'iptables-save')).stdout.split('\n').filter((l) => /^(-A |:)(KUBE-ROUTER|KUBE-NWPLCY)/.test(l) || / -j (KUBE-ROUTER|KUBE-NWPLCY)/.test(l)).map((l) => l.replace(/\[\d+:\d+\]/, '')).sort();
  const sets = (await nsRun(ns, 'ipset', 'save')).stdout.split('\n').filter((l) => / (KRT-|kube-router-)/.test(l)).map((l) => l.replace(/ (hashsize|maxelem|initval|bucketsize) \S+/g, '')).sort();
  const nft = (await nsRun(ns, 'nft', '-j', 'list', 'table', 'ip', 'kube-router-proxy').catch(() => ({ stdout: '{}' }))).stdout;
  const elems = [...nft.matchAll(/"elem":\s*(\[[^\]]*\]|"[^"]*")/g)].map((m) => m[1]).sort();
  const routes = (await ipn(ns, 'route', 'show', 'proto', '44')).stdout.split('\n').filter((l) => l.trim() !== '').sort();
  return JSON.stringify({ ipt, sets, elems: elems.length, routes }, null, 1);
}

const pod = (n: string, node: string, app: string): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'soak', name: n, labels: { app } }, spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] } });
const service = (n: string): JsonObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'soak', name: n }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
const policy = (ports: number[]): JsonObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'soak', name: 'web' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: {} }], ports: ports.map((port) => ({ port })) }] } });

async function main(): Promise<number> {
  const quiet = (): void => undefined;
  say(`lab ${name}: 2 nodes, BIRD; ${minutes} min of churn`);
  const st = await up({ name, nodes: 2, subnets: 1, peer: 'bird', ipv6: false, daemonArgs: ['--advertise-cluster-ip=true', '--ipvs-sync-period=30s', '--iptables-sync-period=30s', '--routes-sync-period=30s'] }, quiet);
  const checks: { name: string; ok: boolean; detail: string }[] = [];
  const samples: Sample[] = [];
  try {
    await apply(st, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'soak', labels: { ns: 'soak' } } }, pod('web-a', 'node-1', 'web'), pod('web-b', 'node-2', 'web'), policy([8080])], quiet);
    const c = client(st);
    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    let nextSample = t0;
    let step = 0;
    let apiRestarted = false;
    const services: string[] = [];
    const pods: string[] = [];
    const birdc = (cmd: string): Promise<unknown> => nsRun(netns.external(name), 'birdc', '-s', join(st.dir, 'tor-bird.ctl'), cmd, 'node1').catch(() => undefined);
    while (Date.now() < end) {
      if (Date.now() >= nextSample) {
        for (const i of [0, 1]) samples.push(await sample(st, i, Math.round((Date.now() - t0) / 1000)));
        nextSample += 15_000;
      }
      step++;
      switch (step % 5) {
        case 0: {
          const n = `svc-${step}`;
          await c.create(service(n));
          services.push(n);
          if (services.length > 8) await c.delete('Service', 'soak', services.shift() as string);
          break;
        }
        case 1: {
          const n = `churn-${step}`;
          await apply(st, [pod(n, nodeName(step % 2), 'web')], quiet);
          pods.push(n);
          if (pods.length > 3) await remove(st, [pod(pods.shift() as string, 'node-1', 'web')]);
          break;
        }
        case 2:
          await apply(st, [policy(step % 2 === 0 ? [8080] : [8080, 9090 + (step % 7)])], quiet);
          break;
        case 3:
          if (step % 20 === 3) await birdc(step % 40 === 3 ? 'disable' : 'enable');
          break;
        case 4:
          if (!apiRestarted && Date.now() > t0 + (end - t0) / 2) {
            say('restarting the API server');
            await restartApi(st);
            apiRestarted = true;
          }
          break;
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
    await birdc('enable');
    say('churn over; settling');
    await new Promise((r) => setTimeout(r, 15_000));
    for (const i of [0, 1]) samples.push(await sample(st, i, Math.round((Date.now() - t0) / 1000)));

    // Flat after warm-up: the last third of the samples against the first third after the first quarter.
    for (const node of ['node-1', 'node-2']) {
      const s = samples.filter((x) => x.node === node);
      const warm = s.slice(Math.floor(s.length / 4));
      const third = Math.max(1, Math.floor(warm.length / 3));
      const mean = (xs: Sample[], k: keyof Sample): number => xs.reduce((a, x) => a + Number(x[k]), 0) / xs.length;
      for (const k of ['rssMiB', 'heapMiB'] as const) {
        const a = mean(warm.slice(0, third), k);
        const b = mean(warm.slice(-third), k);
        checks.push({ name: `${node} ${k} flat`, ok: b <= a * 1.25 + 8, detail: `${a.toFixed(1)} → ${b.toFixed(1)}` });
      }
      for (const k of ['fds', 'children'] as const) {
        const max = Math.max(...warm.map((x) => x[k]));
        const min = Math.min(...warm.map((x) => x[k]));
        checks.push({ name: `${node} ${k} bounded`, ok: max - min <= (k === 'fds' ? 12 : 4), detail: `${min}..${max}` });
      }
      const last = s[s.length - 1] as Sample;
      checks.push({ name: `${node} kernel objects bounded`, ok: last.iptablesRules <= Math.max(...warm.map((x) => x.iptablesRules)) && last.ipsets <= Math.max(...warm.map((x) => x.ipsets)), detail: `rules ${last.iptablesRules}, sets ${last.ipsets}, nft elements ${last.nftElements}, routes ${last.routes}` });
    }
    checks.push({ name: 'API server restarted once', ok: apiRestarted, detail: '' });
    checks.push({ name: 'every node healthy at the end', ok: (await nodeHealth(st, 0)) === 200 && (await nodeHealth(st, 1)) === 200, detail: '' });
    // From scratch: node-1's state now, then a fresh daemon's (its first sync renders everything anew).
    const before = await kernelState(st, 0);
    process.kill(st.daemons['node-1'] as number, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 2000));
    st.daemons['node-1'] = startDaemon(st, 0);
    await waitHealthy(st, 0, 60_000);
    await new Promise((r) => setTimeout(r, 15_000));
    const after = await kernelState(st, 0);
    checks.push({ name: 'node-1 kernel state equals a from-scratch render', ok: before === after, detail: before === after ? '' : `churned:\n${before}\nfresh:\n${after}` });
  } finally {
    await destroyLab(name);
  }
  for (const s of samples.filter((_, k) => k % 8 === 0 || k >= samples.length - 2)) say(`t=${s.t}s ${s.node} rss=${s.rssMiB}MiB heap=${s.heapMiB}MiB fds=${s.fds} children=${s.children} rules=${s.iptablesRules} sets=${s.ipsets} nft=${s.nftElements} routes=${s.routes}`);
  for (const c of checks) say(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ minutes, samples, checks }, null, 1));
  const failed = checks.filter((c) => !c.ok).length;
  say(`${checks.length - failed} checks passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`soak: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(2);
  },
);
