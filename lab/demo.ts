#!/usr/bin/env node
/**
 * npm run demo: a 3-node lab with kube-router on every node, a small app, a connectivity matrix with
 * real packets, a table of what connects and what is refused, then teardown. Exit status 1 if any row
 * is not what it should be (service proxy and NetworkPolicy rows). What this build does not do yet is
 * said, not faked.
 */
import { cpSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './dist.js';
import { apply, defaultControlPlane, destroyLab, probe, readDocs, status, up } from './lab.js';
import { kubectlArgv } from './kubectl.js';
import { promQuery } from './prometheus.js';
import { netns } from './plan.js';
import { labDir } from './state.js';
import { ipn, run } from './sh.js';

const LAB = 'demo';
/** The app (docs/examples/shop.yaml, which docs/troubleshooting.md uses too); its NetworkPolicy is applied after the service rows. */
const SHOP = readDocs(join(REPO_ROOT, 'docs/examples/shop.yaml'));
const APP = SHOP.filter((d) => d['kind'] !== 'NetworkPolicy');
const POLICY = SHOP.filter((d) => d['kind'] === 'NetworkPolicy');


interface Row {
  readonly what: string;
  readonly from: string;
  readonly to: string;
  readonly proto: 'tcp' | 'udp';
  readonly expect: 'answers' | 'refused';
  readonly note: string;
  /** Checked after the NetworkPolicy is applied (probes repeat until programmed, up to 10 s). */
  readonly policy?: boolean;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const say = (m: string): void => {
    process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
  };
  let failures = 0;
  try {
    say(`bringing up 3 nodes (network namespaces) with kube-router on each, BIRD as the top-of-rack router, on the ${defaultControlPlane() === 'kubernetes' ? 'real Kubernetes control plane' : 'API server fixture'}`);
    const st = await up({ name: LAB, nodes: 3, subnets: 1, peer: 'bird', ipv6: false, daemonArgs: ['--advertise-loadbalancer-ip=true'], prometheus: true }, say);
    say('deploying the app: 2 web pods on node-1, a client, an intruder and a pod on node-3, ClusterIP / NodePort / LoadBalancer services');
    await apply(st, APP, say);
    const s = await status(st);
    const svcs = s['services'] as { name: string; clusterIPs: string[]; loadBalancerIPs: string[]; ports: { name: string; nodePort?: number }[] }[];
    const svc = (n: string): (typeof svcs)[number] => svcs.find((x) => x.name === n) as (typeof svcs)[number];
    const web = svc('web').clusterIPs[0] ?? '';
    const np = svc('web-np').ports[0]?.nodePort ?? 0;
    const lb = svc('web-lb').loadBalancerIPs[0] ?? '';
    const lbNp = svc('web-lb').ports[0]?.nodePort ?? 0;
    const podIP = (key: string): string => st.pods.find((p) => `${p.namespace}/${p.name}` === key)?.ips[0] ?? '';
    // The LoadBalancer IP reaches the outside only through BGP: each node with a local endpoint
    // advertises it to BIRD (externalTrafficPolicy Local: node-1 only), BIRD installs the route.
    const torRoute = async (): Promise<string> => (await ipn(netns.external(LAB), 'route', 'show', `${lb}/32`)).stdout.trim();
    for (let i = 0; i < 100 && !(await torRoute()).includes('via'); i++) await new Promise((r) => setTimeout(r, 200));
    const rows: Row[] = [
      { what: 'pod → ClusterIP (TCP)', from: 'shop/client', to: `${web}:80`, proto: 'tcp', expect: 'answers', note: 'spread over web-1/web-2, pod source kept' },
      { what: 'pod → ClusterIP (UDP)', from: 'shop/client', to: `${web}:53`, proto: 'udp', expect: 'answers', note: '' },
      { what: 'node-2 → ClusterIP (pods on node-1)', from: 'node/node-2', to: `${web}:80`, proto: 'tcp', expect: 'answers', note: 'across nodes: pod route learned over BGP' },
      { what: 'pod on node-3 → web-1 pod IP', from: 'shop/remote', to: `${podIP('shop/web-1')}:8080`, proto: 'tcp', expect: 'answers', note: 'pod to pod across nodes, no NAT' },
      { what: 'outside → NodePort on node-1', from: 'external', to: `198.18.0.11:${np}`, proto: 'tcp', expect: 'answers', note: 'masqueraded' },
      { what: 'outside → LoadBalancer IP (Local)', from: 'external', to: `${lb}:80`, proto: 'tcp', expect: 'answers', note: 'routed by BIRD (learned over BGP), client address kept' },
      { what: 'outside → LB NodePort on node-2 (Local)', from: 'external', to: `198.18.0.12:${lbNp}`, proto: 'tcp', expect: 'refused', note: 'no local endpoint on node-2' },
      { what: 'pod → ClusterIP, port not served', from: 'shop/client', to: `${web}:8443`, proto: 'tcp', expect: 'refused', note: 'only service ports answer on service IPs' },
      { what: 'intruder pod → ClusterIP (no policy yet)', from: 'shop/intruder', to: `${web}:80`, proto: 'tcp', expect: 'answers', note: 'no policy selects web yet: open' },
      { what: '[policy] client → ClusterIP (TCP http)', from: 'shop/client', to: `${web}:80`, proto: 'tcp', expect: 'answers', note: 'allowed: from app=client to port http', policy: true },
      { what: '[policy] intruder → ClusterIP', from: 'shop/intruder', to: `${web}:80`, proto: 'tcp', expect: 'refused', note: 'judged after DNAT against web-1/web-2', policy: true },
      { what: '[policy] client → ClusterIP (UDP)', from: 'shop/client', to: `${web}:53`, proto: 'udp', expect: 'refused', note: 'the policy allows only the http port', policy: true },
      { what: '[policy] intruder → client pod', from: 'shop/intruder', to: `${podIP('shop/client')}:7`, proto: 'tcp', expect: 'answers', note: 'client is not selected by any policy', policy: true },
      { what: '[policy] node-1 → web-1 pod', from: 'node/node-1', to: `${podIP('shop/web-1')}:8080`, proto: 'tcp', expect: 'answers', note: 'a pod own node always reaches it (probes)', policy: true },
    ];
    say('connectivity matrix (real packets)');
    const out: string[] = [];
    const pad = (x: string, n: number): string => x.padEnd(n);
    out.push(`${pad('path', 40)} ${pad('expected', 9)} ${pad('got', 22)} ok   note`);
    let policyApplied = false;
    for (const r of rows) {
      if (r.policy && !policyApplied) {
        say('applying a NetworkPolicy: web accepts only app=client, only on its http port');
        await apply(st, POLICY, say);
        policyApplied = true;
      }
      // What a probe that did not get the expected answer printed, for the row's failure report.
      let why = '';
      const measure = async (): Promise<string[]> => {
        const answers: string[] = [];
        for (let i = 0; i < (r.expect === 'answers' ? 4 : 1); i++) {
          const p = await probe(st, r.from, r.to, r.proto, 1500);
          answers.push(p.ok ? `${p.answer ?? ''}` : 'refused');
          if (p.ok !== (r.expect === 'answers') && why === '') {
            why = `probe ${i + 1} of ${r.from} → ${r.to} at ${new Date().toISOString()}: ${p.output.trim().split('\n').slice(-3).join(' | ')}`;
            // The nodes' learned routes right after the wrong answer (a route that comes and goes shows here).
            for (let n = 0; n < 3; n++) why += `\n      node-${n + 1}: ${(await ipn(netns.node(LAB, n), 'route', 'show', 'proto', '44')).stdout.trim().split('\n').join(' ; ')}`;
          }
        }
        return answers;
      };
      const good = (answers: string[]): boolean => (r.expect === 'answers' ? answers.every((a) => a !== 'refused') : answers.every((a) => a === 'refused'));
      let answers = await measure();
      for (const end = Date.now() + 10_000; r.policy && !good(answers) && Date.now() < end; ) answers = await measure();
      const got = [...new Set(answers)].join(',');
      const ok = good(answers);
      if (!ok) failures++;
      out.push(`${pad(r.what, 40)} ${pad(r.expect, 9)} ${pad(got, 22)} ${ok ? 'yes ' : 'NO  '} ${r.note}`);
      if (!ok) out.push(`    ${why}`);
    }
    let establishedTotal = 0;
    const nodes = (await status(st))['nodes'] as { name: string; daemon: { proxyBackend?: string; serviceFrontends: number; healthz: number; policyChains: number; bgpPeers: string[] } }[];
    out.push('');
    for (const n of nodes) {
      const established = n.daemon.bgpPeers.filter((p) => p.includes('state="Established"')).length;
      establishedTotal += established;
      out.push(`${n.name}: kube-router healthz ${n.daemon.healthz}, proxy backend ${n.daemon.proxyBackend ?? '-'} (${n.daemon.serviceFrontends} service frontends), firewall ${n.daemon.policyChains} chains, BGP ${established}/${n.daemon.bgpPeers.length} peers established`);
      const routes = await ipn(netns.node(LAB, Number(n.name.slice(5)) - 1), 'route', 'show', 'proto', '44');
      for (const line of routes.stdout.trim().split('\n').filter((l) => l !== '')) out.push(`    route learned over BGP: ${line.trim()}`);
    }
    out.push(`top-of-rack BIRD, route to the LoadBalancer IP (only node-1 has a local endpoint): ${await torRoute()}`);
    out.push('');
    if (st.controlPlane?.kind === 'kubernetes') {
      // What the real API server holds: the EndpointSlices are kube-controller-manager's, the
      // LoadBalancer address the lab's stand-in for a cloud controller's.
      out.push(`The real control plane (Kubernetes ${st.controlPlane.version}): kubectl get svc,endpointslices,networkpolicies -A`);
      const r = await run(...kubectlArgv(st, ['get', 'svc,endpointslices,networkpolicies', '-A']));
      out.push(...r.stdout.trimEnd().split('\n').map((l) => `    ${l}`));
    } else out.push('The API server fixture (the Kubernetes control plane is not built: scripts/setup.sh builds it).');
    out.push('');
    out.push(`Prometheus (in the API namespace, scraping every node's :20245 as the PodMonitor would):`);
    const fmt = (x: number): string => (!Number.isFinite(x) ? 'n/a' : Number.isInteger(x) ? String(x) : x.toFixed(3));
    const queries: [string, string, (m: Record<string, string>) => string][] = [
      ['sync p99 since start, by controller (s)', 'label_replace(histogram_quantile(0.99, sum by (le) (kube_router_proxy_sync_duration_seconds_bucket)), "controller", "proxy", "", "") or label_replace(histogram_quantile(0.99, sum by (le) (kube_router_netpol_sync_duration_seconds_bucket)), "controller", "firewall", "", "") or label_replace(histogram_quantile(0.99, sum by (le) (kube_router_host_routes_sync_time_bucket)), "controller", "routes", "", "")', (m) => m['controller'] ?? ''],
      ['BGP sessions by state', 'count by (state) (kube_router_bgp_peer_info)', (m) => m['state'] ?? ''],
      ['rejected inputs', 'sum by (controller, kind, reason) (kube_router_input_rejected_total)', (m) => `${m['controller'] ?? ''} ${m['kind'] ?? ''} ${m['reason'] ?? ''}`],
    ];
    // Prometheus sees what its last scrape of each node saw: wait (bounded) until it has scraped every
    // node since their sessions came up, so its answer is about the same moment as the lines above.
    const promEstablished = async (): Promise<number> => (await promQuery(st.plan, 'count(kube_router_bgp_peer_info{state="Established"})').catch(() => [])).reduce((a, x) => a + x.value, 0);
    for (const end = Date.now() + 30_000; (await promEstablished()) < establishedTotal && Date.now() < end; ) await new Promise((r) => setTimeout(r, 500));
    for (const [what, expr, label] of queries) {
      const r = await promQuery(st.plan, expr).catch((e: unknown) => [{ metric: { error: e instanceof Error ? e.message : String(e) }, value: NaN }]);
      out.push(`    ${what}: ${r.length === 0 ? 'none' : r.map((x) => `${label(x.metric)} ${fmt(x.value)}`).join(', ')}`);
    }
    out.push('');
    out.push('Every row above is checked against real packets.');
    process.stdout.write(out.join('\n') + '\n');
  } catch (e) {
    process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
    failures++;
  } finally {
    if ((failures > 0 || process.env['KR_DEMO_KEEP_LOGS'] === '1') && existsSync(labDir(LAB))) {
      // The daemons' logs are what explains a wrong row: keep them past the teardown (always with KR_DEMO_KEEP_LOGS=1).
      const kept = `/tmp/kube-router-demo-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      try {
        // The logs only: the lab's directory also holds etcd's data and unix sockets.
        cpSync(labDir(LAB), kept, { recursive: true, filter: (src) => src.endsWith('.log') || statSync(src).isDirectory() });
        say(`logs of every process kept in ${kept}`);
      } catch (e) {
        say(`the logs could not be kept: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    say('tearing down');
    await destroyLab(LAB);
  }
  say(failures === 0 ? `done in ${((Date.now() - t0) / 1000).toFixed(0)} s: every checked row is as expected` : `${failures} row(s) wrong`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (c) => process.exit(c),
  () => process.exit(1),
);
