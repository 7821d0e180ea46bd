/** Builds a ProxyController on fakes against an in-process API server fixture (test support). */
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServerFixture, FixtureClient, type JsonObject } from '../../fixture/apiserver/index.js';
import { WatchLayer } from '../k8s/watch-layer.js';
import { KubeTransport } from '../k8s/transport.js';
import { FakeConntrack, realConntrack } from '../linux/conntrack.js';
import { FakeNftables } from '../linux/nftables/fake.js';
import { FakeNetlink } from '../linux/netlink/fake.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import { HealthChecker } from '../runtime/health.js';
import { Rejections } from '../runtime/rejections.js';
import { ServedFrontends } from '../runtime/served-frontends.js';
import { EventRecorder } from '../k8s/events.js';
import { DaemonMetrics } from '../runtime/metrics.js';
import { loadConfig } from '../options/load-config.js';
import { systemClock, VirtualClock, type Clock } from '../util/clock.js';
import { memoryLogger } from '../util/logger.js';
import { parseIP } from '../util/ip.js';
import { evaluate, type Packet, type Verdict } from './nft/evaluate.js';
import { netnsExec, realExec, type Exec } from '../linux/exec.js';
import { detectIptablesVariant } from '../linux/iptables/real.js';
import type { Ipvs } from '../linux/ipvs/types.js';
import { realKernelWith, type KernelAdapters } from '../linux/adapters.js';
import { fakeKernel } from '../linux/fake-adapters.js';
import { ProxyController, type ProxyDeps } from './controller.js';
import type { FakeIpvs } from '../linux/ipvs/fake.js';

/** Tools the IPVS backend runs on its first sync (sysctl), answered without touching the host. */
const noopExec: Exec = { run: () => Promise.resolve({ stdout: '', stderr: '' }) };

export interface Harness {
  readonly api: ApiServerFixture;
  readonly client: FixtureClient;
  readonly nft: FakeNftables;
  readonly conntrack: FakeConntrack;
  readonly iptables: { readonly 4: FakeIptables; readonly 6: FakeIptables };
  readonly ipset: FakeIpset;
  readonly netlink: FakeNetlink;
  readonly metrics: DaemonMetrics;
  readonly health: HealthChecker;
  readonly lines: string[];
  readonly controller: ProxyController;
  /** What the controller tells the router of its committed frontends. */
  readonly served: ServedFrontends;
  eval(p: Partial<Packet> & Pick<Packet, 'dst' | 'dport'>): Verdict;
  until(what: string, cond: () => boolean | Promise<boolean>, ms?: number): Promise<void>;
  /**
   * Moves the controller's clock on by `ms` (timers due fire: periodic syncs, retries, the drain check)
   * and waits for the sync that follows. On fakes the clock is virtual, so this costs no real time; on a
   * real kernel (VM) it is the wall clock and this waits. `waitForSync: false` for timers that do not
   * sync (conntrack cleanup after a grace period).
   */
  advance(ms: number, opts?: { readonly waitForSync?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export const NODE = 'node-a';
export const NODE_IP = '198.18.0.10';

export function node(name: string, ip: string, podCIDR: string, zone?: string, ip6?: string): JsonObject {
  return {
    kind: 'Node',
    metadata: { name, labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} },
    spec: { podCIDRs: [podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: ip }, ...(ip6 ? [{ type: 'InternalIP', address: ip6 }] : [])] },
  };
}

/** The real kernel inside one namespace (VM tests): adapters run there, IPVS is opened there. */
export interface RealKernelOptions {
  readonly netns: string;
  readonly ipvs: Ipvs;
}

/** A pod on this node with one container (`containerd://ID`), as the kubelet reports it. */
export function podWithContainer(name: string, ip: string, containerId: string, ns = 'default'): JsonObject {
  return { kind: 'Pod', metadata: { name, namespace: ns }, spec: { nodeName: NODE, containers: [{ name: 'c' }] }, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], containerStatuses: [{ name: 'c', containerID: `containerd://${containerId}`, ready: true }] } };
}

export async function harness(args: string[] = [], opts: { readonly ipvs?: FakeIpvs; readonly real?: RealKernelOptions; readonly dsr?: Pick<ProxyDeps, 'podTunnels' | 'openCri'> } = {}): Promise<Harness> {
  const api = new ApiServerFixture({ bookmarkIntervalMs: 1000 });
  await api.start();
  const client = new FixtureClient({ host: '127.0.0.1', port: api.port });
  const r = loadConfig(['--hostname-override', NODE, '--service-cluster-ip-range=198.18.128.0/20', '--service-external-ip-range=198.19.0.0/24', '--loadbalancer-ip-range=198.19.1.0/24', ...args], { env: {}, hostname: () => NODE, readFile: () => '' });
  if (r.kind !== 'run') throw new Error(JSON.stringify(r));
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  // The controller's timers run on a virtual clock over the fakes; a real kernel keeps real time (real
  // connections drain in it). The watch layer talks to a real server and keeps the system clock.
  const virtual = opts.real ? undefined : new VirtualClock();
  const clock: Clock = virtual ?? systemClock();
  const { logger, lines } = memoryLogger(2);
  const watch = new WatchLayer({ transport: new KubeTransport(kc), clock: systemClock(), logger });
  const nft = new FakeNftables();
  const netlink = new FakeNetlink();
  netlink.addLink('eth0');
  await netlink.apply([{ op: 'addr-add', dev: 'eth0', ip: parseIP(NODE_IP), prefix: 24 }]);
  // (with opts.real the namespace holds NODE_IP itself)
  const conntrack = new FakeConntrack();
  const iptables = { 4: new FakeIptables(4), 6: new FakeIptables(6) };
  const ipset = new FakeIpset();
  const metrics = new DaemonMetrics('test', { processMetrics: false });
  const health = new HealthChecker(clock);
  let kernel: KernelAdapters = fakeKernel({ exec: opts.ipvs ? noopExec : realExec(), iptables, ipset, nft, netlink });
  let deps: ProxyDeps = { nft, netlink, conntrack, openIpvs: () => Promise.resolve(opts.ipvs), ...opts.dsr };
  if (opts.real) {
    const exec = netnsExec(realExec(), opts.real.netns);
    const variant = await detectIptablesVariant(exec);
    const ipvs = opts.real.ipvs;
    kernel = realKernelWith(exec, variant);
    deps = { nft: kernel.nft, netlink: kernel.netlink, conntrack: realConntrack(exec), openIpvs: () => Promise.resolve(ipvs), ...opts.dsr };
  }
  const served = new ServedFrontends();
  const controller = new ProxyController({ config: r.config, watch, kernel, health, metrics, clock, logger, rejections: new Rejections(logger, metrics, new EventRecorder(new KubeTransport(kc), clock, logger, { node: 'node-a' })), api: new KubeTransport(kc), servedFrontends: served }, deps);
  await client.create(node(NODE, NODE_IP, '198.18.64.0/24', 'zone-a', r.config.enableIPv6 ? '2001:db8::10' : undefined));
  await client.create(node('node-b', '198.18.0.11', '198.18.65.0/24', 'zone-b'));
  watch.start();
  await watch.waitForSync(5000);
  health.register(controller.name, controller.syncPeriodMs);
  await controller.start();
  const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> => {
    const end = Date.now() + ms;
    for (;;) {
      let ok = false;
      try {
        ok = await cond();
      } catch {
        ok = false;
      }
      if (ok) return;
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}\n${lines.slice(-20).join('\n')}`);
      await new Promise((res) => setTimeout(res, 10));
    }
  };
  return {
    api,
    client,
    nft,
    conntrack,
    iptables,
    ipset,
    netlink,
    metrics,
    health,
    lines,
    controller,
    served,
    eval: (p) => evaluate(nft, { family: p.dst.includes(':') ? 6 : 4, src: '198.18.64.5', protocol: 'tcp', hook: 'prerouting', ...p }),
    until,
    advance: async (ms: number, o: { readonly waitForSync?: boolean } = {}) => {
      const n = lines.length;
      if (virtual) virtual.advance(ms);
      else await new Promise((res) => setTimeout(res, ms));
      if (o.waitForSync === false) return;
      await until(`a sync after the clock moved ${ms} ms`, () => lines.slice(n).some((l) => l.includes('proxy sync')), 10_000);
    },
    close: async () => {
      await controller.stop();
      await watch.stop();
      await api.stop();
    },
  };
}

export interface EP {
  ip: string;
  node?: string;
  /** targetRef: the pod (in the slice's namespace). */
  pod?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zone?: string;
}

export function service(name: string, spec: JsonObject, opts: { ns?: string; annotations?: Record<string, string>; labels?: Record<string, string>; status?: JsonObject } = {}): JsonObject {
  return { kind: 'Service', metadata: { name, namespace: opts.ns ?? 'default', annotations: opts.annotations ?? {}, labels: opts.labels ?? {} }, spec, ...(opts.status ? { status: opts.status } : {}) };
}

export function slice(svc: string, eps: EP[], ports: { name?: string; port: number; protocol?: string }[], opts: { ns?: string; name?: string; family?: 'IPv4' | 'IPv6' } = {}): JsonObject {
  return {
    kind: 'EndpointSlice',
    metadata: { name: opts.name ?? `${svc}-abc`, namespace: opts.ns ?? 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: opts.family ?? 'IPv4',
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      nodeName: e.node ?? NODE,
      ...(e.zone ? { zone: e.zone } : {}),
      ...(e.pod ? { targetRef: { kind: 'Pod', namespace: opts.ns ?? 'default', name: e.pod } } : {}),
    })),
  };
}
