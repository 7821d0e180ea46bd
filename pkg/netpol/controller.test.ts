import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServerFixture, FixtureClient, type JsonObject } from '../../fixture/apiserver/index.js';
import { KubeTransport } from '../k8s/transport.js';
import { WatchLayer } from '../k8s/watch-layer.js';
import { realExec } from '../linux/exec.js';
import { FakeIpset } from '../linux/ipset/fake.js';
import { fakeKernel } from '../linux/fake-adapters.js';
import { FakeIptables } from '../linux/iptables/fake.js';
import { loadConfig } from '../options/load-config.js';
import { HealthChecker } from '../runtime/health.js';
import { Rejections } from '../runtime/rejections.js';
import { EventRecorder } from '../k8s/events.js';
import { DaemonMetrics } from '../runtime/metrics.js';
import { systemClock, VirtualClock } from '../util/clock.js';
import { memoryLogger } from '../util/logger.js';
import { FirewallController } from './controller.js';
import { evaluateFilter } from './evaluate.js';
import { FakeNftables } from '../linux/nftables/fake.js';
import { evaluateNftFilter } from './nft/evaluate.js';
import { ErrorCode, KubeRouterError } from '../util/errors.js';
import type { IptablesTable } from '../linux/iptables/types.js';

/** A host without the iptables tools: every save or restore says so, as the real adapter does. */
class MissingIptables extends FakeIptables {
  override save(_table: IptablesTable): Promise<string> {
    return Promise.reject(new KubeRouterError(ErrorCode.ToolMissing, 'iptables-save is not installed'));
  }
  override restore(_text: string): Promise<void> {
    return Promise.reject(new KubeRouterError(ErrorCode.ToolMissing, 'iptables-restore is not installed'));
  }
}

const MODES = [
  { name: 'iptables backend', args: [] as string[], iptablesMissing: false, nft: false },
  { name: 'nftables backend (--use-nftables-for-netpol), taking over from the iptables backend', args: ['--use-nftables-for-netpol'], iptablesMissing: false, nft: true },
  { name: 'nftables backend chosen automatically on a host without iptables', args: [], iptablesMissing: true, nft: true },
] as const;

const pod = (name: string, ip: string, labels: Record<string, string>): JsonObject => ({
  kind: 'Pod',
  metadata: { namespace: 'x', name, labels },
  spec: { nodeName: 'node-a', containers: [{ name: 'c' }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
});

for (const mode of MODES)
describe(`firewall controller against the API fixture (kernel fakes), ${mode.name}`, function () {
  this.timeout(20_000);
  it('follows the API; a malformed update keeps the last valid policy in force, with a log line and a metric; deletion opens again', async () => {
    const api = new ApiServerFixture({ bookmarkIntervalMs: 1000 });
    await api.start();
    const client = new FixtureClient({ host: '127.0.0.1', port: api.port });
    const r = loadConfig(['--hostname-override', 'node-a', '--service-cluster-ip-range=198.18.128.0/20', ...mode.args], { env: {}, hostname: () => 'node-a', readFile: () => '' });
    if (r.kind !== 'run') throw new Error(JSON.stringify(r));
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    const clock = new VirtualClock(); // the controller's timers: no real waits
    const { logger, lines } = memoryLogger(2);
    const watch = new WatchLayer({ transport: new KubeTransport(kc), clock: systemClock(), logger });
    const ipt = mode.iptablesMissing ? new MissingIptables(4) : new FakeIptables(4);
    const ipset = new FakeIpset();
    const nft = new FakeNftables();
    if (mode.nft && !mode.iptablesMissing) {
      // What the iptables backend left on this node before the switch.
      await ipt.restore('*filter\n:KUBE-ROUTER-INPUT - [0:0]\n:KUBE-NWPLCY-INGRESS - [0:0]\n-A INPUT -m comment --comment "kube-router netpol" -j KUBE-ROUTER-INPUT\n-A INPUT -j ACCEPT\n-A KUBE-ROUTER-INPUT -j KUBE-NWPLCY-INGRESS\nCOMMIT\n');
      await ipset.restore('create KRT-NP-LOCAL-PODS hash:ip family inet\nadd KRT-NP-LOCAL-PODS 198.18.64.2\ncreate foreign hash:ip family inet\n');
    }
    const metrics = new DaemonMetrics('test', { processMetrics: false });
    const health = new HealthChecker(clock);
    const controller = new FirewallController({ config: r.config, watch, kernel: fakeKernel({ exec: realExec(), iptables: { 4: ipt, 6: mode.iptablesMissing ? new MissingIptables(6) : new FakeIptables(6) }, ipset, nft }), health, metrics, clock, logger, rejections: new Rejections(logger, metrics, new EventRecorder(new KubeTransport(kc), clock, logger, { node: 'node-a' })), api: new KubeTransport(kc) });
    try {
      await client.create({ kind: 'Node', metadata: { name: 'node-a' }, spec: { podCIDRs: ['198.18.64.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.10' }] } });
      await client.create({ kind: 'Namespace', metadata: { name: 'x', labels: { ns: 'x' } } });
      await client.create(pod('a', '198.18.64.2', { pod: 'a' }));
      await client.create(pod('b', '198.18.64.3', { pod: 'b' }));
      watch.start();
      await watch.waitForSync(5000);
      health.register(controller.name, controller.syncPeriodMs);
      await controller.start();
      const verdict = (src: string): string => {
        try {
          const p = { src, dst: '198.18.64.2', protocol: 'tcp', dport: 80, hook: 'FORWARD', localAddresses: ['198.18.0.10'] } as const;
          if (mode.nft) return nft.tables.has('ip kube-router-netpol') ? evaluateNftFilter(nft, p).action : 'not programmed';
          return evaluateFilter(ipt, ipset, p).action;
        } catch {
          return 'not programmed';
        }
      };
      const until = async (what: string, cond: () => boolean): Promise<void> => {
        const end = Date.now() + 5000;
        while (!cond()) {
          if (Date.now() > end) assert.fail(`${what}\n${lines.slice(-10).join('\n')}`);
          await new Promise((res) => setTimeout(res, 10));
        }
      };
      await until('programmed, open', () => verdict('198.18.64.3') === 'accept');
      if (mode.nft) {
        assert.ok(lines.some((l) => l.includes('firewall backend: nftables')), 'the choice is logged');
        if (!mode.iptablesMissing) {
          await until('the iptables backend objects are gone', () => !ipt.chains('filter').some((c) => c.startsWith('KUBE-')) && !ipset.sets.has('KRT-NP-LOCAL-PODS'));
          assert.deepEqual(ipt.rules('filter', 'INPUT'), ['-j ACCEPT'], 'a foreign rule stays');
          assert.ok(ipset.sets.has('foreign'), 'a foreign set stays');
        }
      } else assert.equal(nft.tables.size, 0, 'no nftables table with the iptables backend');
      const policy = { kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'only-b' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] } };
      await client.create(policy);
      await until('x/a isolated, b allowed', () => verdict('198.18.64.9') === 'reject' && verdict('198.18.64.3') === 'accept');
      // netpol explain, from what this backend put in the (fake) kernel.
      const explain = async (from: string, to: string, port: string): Promise<string[]> => {
        const rows = (await controller.inspect['/netpol/explain']?.(new URLSearchParams({ from, to, port }))) as { direction: string; pod: string; verdict: string; tier: string; decidedBy: string }[];
        return rows.map((r) => `${r.direction} ${r.pod} ${r.verdict} ${r.tier}: ${r.decidedBy}`);
      };
      assert.deepEqual(await explain('x/b', 'x/a', '80'), ['egress x/b allow default: no policy selects x/b for egress', 'ingress x/a allow NetworkPolicy: allowed by x/only-b ingress[0]']);
      assert.deepEqual(await explain('198.18.64.9', '198.18.64.2', '80/tcp'), ['egress 198.18.64.9 not policed default: 198.18.64.9 is not a pod', 'ingress x/a deny NetworkPolicy: isolated by x/only-b; no rule of theirs allows it']);
      await assert.rejects(explain('x/nope', 'x/a', '80'), /no such pod/);
      await assert.rejects(explain('x/b', 'x/a', 'http'), /--port/);
      const cur = await client.get('NetworkPolicy', 'x', 'only-b');
      await client.update({ ...policy, metadata: { ...policy.metadata, resourceVersion: (cur?.['metadata'] as JsonObject)['resourceVersion'] }, spec: { podSelector: { matchExpressions: [{ key: 'pod', operator: 'Sometimes' }] } } });
      await until('the rejection is logged', () => lines.some((l) => l.includes('NetworkPolicy rejected')));
      assert.equal(verdict('198.18.64.9'), 'reject', 'the last valid version stays in force');
      assert.equal(verdict('198.18.64.3'), 'accept');
      assert.match(await metrics.registry.getSingleMetricAsString('kube_router_input_rejected_total'), /controller="netpol",kind="NetworkPolicy",reason="Malformed"\} 1/);
      const events = await client.list('Event', 'x');
      assert.ok(events.some((ev) => (ev['involvedObject'] as JsonObject)['name'] === 'only-b' && ev['type'] === 'Warning' && ev['reason'] === 'KubeRouterMalformed' && String(ev['message']).includes('last valid version')), 'a Warning Event on the policy says why');
      // Over the budget (egress named ports resolve per peer: 200 × 200 lines): refused, the last valid version stays.
      const cur2 = await client.get('NetworkPolicy', 'x', 'only-b');
      await client.update({ ...policy, metadata: { ...policy.metadata, resourceVersion: (cur2?.['metadata'] as JsonObject)['resourceVersion'] }, spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: Array.from({ length: 200 }, (_, i) => ({ podSelector: { matchLabels: { app: `a${i}` } } })), ports: Array.from({ length: 200 }, (_, i) => ({ port: `p${i}` })) }] } });
      await until('the over-budget policy is refused', () => lines.some((l) => l.includes('reason=OverBudget')));
      assert.equal(verdict('198.18.64.9'), 'reject', 'the last valid version stays in force');
      assert.equal(verdict('198.18.64.3'), 'accept');
      assert.match(await metrics.registry.getSingleMetricAsString('kube_router_input_rejected_total'), /controller="netpol",kind="NetworkPolicy",reason="OverBudget"\} 1/);
      await client.patch('Pod', 'x', 'b', { metadata: { labels: { pod: 'q' } } });
      await until('a relabelled pod loses its allowance', () => verdict('198.18.64.3') === 'reject');
      await client.delete('NetworkPolicy', 'x', 'only-b');
      await until('deleted: open again', () => verdict('198.18.64.9') === 'accept');
      assert.ok(health.status().find((s) => s.name === controller.name)?.healthy, 'the controller beat its health');
      assert.match(await metrics.registry.getSingleMetricAsString('kube_router_controller_policy_chains'), /kube_router_controller_policy_chains \d+/);
    } finally {
      await controller.stop();
      await watch.stop();
      await api.stop();
    }
  });
});

describe('firewall controller: prepare reads the kernel while the informers list', function () {
  this.timeout(20_000);
  for (const late of [false, true])
    it(late ? 'a read older than 10 s when the first sync comes is read again' : 'the first full sync uses the read prepare started: one read in all', async () => {
      const api = new ApiServerFixture({ bookmarkIntervalMs: 1000 });
      await api.start();
      const client = new FixtureClient({ host: '127.0.0.1', port: api.port });
      const r = loadConfig(['--hostname-override', 'node-a', '--service-cluster-ip-range=198.18.128.0/20', '--use-nftables-for-netpol'], { env: {}, hostname: () => 'node-a', readFile: () => '' });
      if (r.kind !== 'run') throw new Error(JSON.stringify(r));
      const kc = new KubeConfig();
      kc.loadFromString(api.kubeconfig());
      const clock = new VirtualClock();
      const { logger, lines } = memoryLogger(2);
      const watch = new WatchLayer({ transport: new KubeTransport(kc), clock: systemClock(), logger });
      const nft = new FakeNftables();
      let reads = 0;
      const dump = nft.dump.bind(nft);
      nft.dump = (...a: Parameters<FakeNftables['dump']>): ReturnType<FakeNftables['dump']> => {
        reads++;
        return dump(...a);
      };
      const metrics = new DaemonMetrics('test', { processMetrics: false });
      const controller = new FirewallController({ config: r.config, watch, kernel: fakeKernel({ exec: realExec(), iptables: { 4: new FakeIptables(4), 6: new FakeIptables(6) }, ipset: new FakeIpset(), nft }), health: new HealthChecker(clock), metrics, clock, logger, rejections: new Rejections(logger, metrics, new EventRecorder(new KubeTransport(kc), clock, logger, { node: 'node-a' })), api: new KubeTransport(kc) });
      const until = async (what: string, cond: () => boolean): Promise<void> => {
        const end = Date.now() + 5000;
        while (!cond()) {
          if (Date.now() > end) assert.fail(`${what}\n${lines.slice(-10).join('\n')}`);
          await new Promise((res) => setTimeout(res, 10));
        }
      };
      try {
        await client.create({ kind: 'Node', metadata: { name: 'node-a' }, spec: { podCIDRs: ['198.18.64.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.10' }] } });
        await client.create({ kind: 'Namespace', metadata: { name: 'x' } });
        await client.create(pod('a', '198.18.64.2', { pod: 'a' }));
        controller.prepare();
        await until('prepare started the read', () => reads === 1);
        watch.start();
        await watch.waitForSync(5000);
        if (late) clock.advance(10_001);
        await controller.start();
        await until('programmed', () => nft.tables.has('ip kube-router-netpol'));
        assert.equal(reads, late ? 2 : 1, late ? 'read again' : 'the sync read nothing more');
        assert.ok(lines.some((l) => l.includes('netpol sync') && l.includes('mode=full')));
      } finally {
        await controller.stop();
        await watch.stop();
        await api.stop();
      }
    });
});
