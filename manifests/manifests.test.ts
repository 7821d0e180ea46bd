import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { loadConfig, type LoadDeps } from '../pkg/options/load-config.js';
import { EXTRA_FILES, manifestPath, renderVariant, VARIANTS } from './render.js';
import { METRICS_PORT, podMonitor, serviceMonitor } from './monitoring.js';
import { dashboardExprs } from './dashboard.js';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const deps: LoadDeps = { env: { NODE_NAME: 'n1' }, hostname: () => 'h', readFile: () => '' };

function containerArgs(text: string): string[][] {
  const out: string[][] = [];
  for (const doc of parseAllDocuments(text)) {
    const o = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: { args?: string[] }[] } } } };
    if (o.kind !== 'DaemonSet') continue;
    for (const c of o.spec?.template?.spec?.containers ?? []) out.push(c.args ?? []);
  }
  return out;
}

const manifestsDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../manifests');

describe('manifests', () => {
  for (const f of EXTRA_FILES) {
    it(`${f.file}: committed file is what render.ts makes`, () => {
      assert.equal(readFileSync(join(manifestsDir, f.file), 'utf8'), f.render(), 'run: node dist/manifests/render.js');
    });
  }

  it('the PodMonitor and ServiceMonitor scrape the port every DaemonSet opens with --metrics-port', () => {
    for (const v of VARIANTS) {
      for (const doc of parseAllDocuments(readFileSync(manifestPath(v), 'utf8'))) {
        const o = doc.toJS() as { kind?: string; metadata?: { labels?: Record<string, string> }; spec?: { template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: { args?: string[]; ports?: { name: string; containerPort: number }[] }[] } } } };
        if (o.kind !== 'DaemonSet') continue;
        const c = o.spec?.template?.spec?.containers?.[0];
        assert.ok(c?.args?.includes(`--metrics-port=${METRICS_PORT}`), v.file);
        assert.deepEqual(c?.ports?.find((p) => p.name === 'metrics')?.containerPort, METRICS_PORT, v.file);
        const pm = podMonitor()[0] as { spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] } };
        for (const [k, val] of Object.entries(pm.spec.selector.matchLabels)) assert.equal(o.spec?.template?.metadata?.labels?.[k], val, `${v.file}: the PodMonitor selects its pods`);
        assert.equal(pm.spec.podMetricsEndpoints[0]?.port, 'metrics');
      }
    }
    const [svc, sm] = serviceMonitor() as [{ spec: { ports: { name: string; port: number }[] }; metadata: { labels: Record<string, string> } }, { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] } }];
    assert.equal(svc.spec.ports[0]?.port, METRICS_PORT);
    assert.deepEqual(sm.spec.selector.matchLabels, svc.metadata.labels, 'the ServiceMonitor selects the Service');
    assert.equal(sm.spec.endpoints[0]?.port, svc.spec.ports[0]?.name);
  });

  it('the dashboard is valid JSON whose every panel has a query, all on kube-router or process metrics', () => {
    const d = JSON.parse(readFileSync(join(manifestsDir, 'dashboard/kube-router.json'), 'utf8')) as { panels: { type: string; targets?: { expr: string }[] }[] };
    const graphs = d.panels.filter((p) => p.type !== 'row');
    assert.ok(graphs.length >= 20, `${graphs.length} panels`);
    for (const p of graphs) assert.ok((p.targets ?? []).length > 0 && (p.targets ?? []).every((t) => /\b(kube_router_|process_)[a-z_]+/.test(t.expr)));
    assert.equal(graphs.flatMap((p) => p.targets ?? []).length, dashboardExprs().length);
  });

  for (const v of VARIANTS) {
    it(`${v.file}: committed file is what render.ts makes, and its args pass our real options parser`, () => {
      const text = readFileSync(manifestPath(v), 'utf8');
      assert.equal(text, renderVariant(v), 'run: node dist/manifests/render.js');
      const args = containerArgs(text);
      assert.equal(args.length, 1);
      const r = loadConfig(args[0] ?? [], deps);
      assert.equal(r.kind, 'run', JSON.stringify(r));
    });
  }

  // Argument lists from upstream's manifests, user guide and issue reports, as users pass them.
  const upstreamArgSets: string[][] = [
    ['--run-router=true', '--run-firewall=true', '--run-service-proxy=true', '--bgp-graceful-restart=true', '--kubeconfig=/var/lib/kube-router/kubeconfig'],
    ['--run-router=true', '--run-firewall=true', '--run-service-proxy=true', '--kubeconfig=/var/lib/kube-router/kubeconfig', '--cluster-asn=64512', '--peer-router-ips=192.168.1.99', '--peer-router-asns=64513', '--advertise-cluster-ip=true', '--bgp-graceful-restart=true'],
    ['--master=http://192.168.1.99:8080/', '--run-router=true', '--run-firewall=true', '--run-service-proxy=true'],
    ['--run-router=false', '--run-firewall=true', '--run-service-proxy=false', '--iptables-sync-period=1m'],
    ['--run-service-proxy=true', '--hairpin-mode', '--masquerade-all=false', '--ipvs-sync-period=30s', '--nodeport-bindon-all-ip', '--ipvs-graceful-termination', '--ipvs-graceful-period=15s'],
    ['--enable-overlay=true', '--overlay-type=full', '--overlay-encap=fou', '--overlay-encap-port=5555', '--enable-pod-egress=false'],
    ['--nodes-full-mesh=false', '--cluster-asn=65001', '--enable-ibgp=false', '--peer-router-ips=10.0.0.1,10.0.0.2', '--peer-router-asns=65000,65000', '--peer-router-passwords=cGFzc3dvcmQ=,', '--peer-router-multihop-ttl=2'],
    ['--enable-ipv6=true', '--enable-ipv4=true', '--service-cluster-ip-range=10.96.0.0/12', '--service-cluster-ip-range=2001:db8:42:1::/112', '--router-id=generate'],
    ['--service-external-ip-range=203.0.113.0/24', '--loadbalancer-ip-range=198.51.100.0/24', '--strict-external-ip-validation=false', '--advertise-loadbalancer-ip', '--advertise-external-ip'],
    ['-v', '3', '--health-port=20244', '--metrics-port=8080', '--metrics-path=/metrics', '--cache-sync-timeout=2m', '--runtime-endpoint=unix:///run/containerd/containerd.sock'],
    ['--service-node-port-range=30000:32767', '--excluded-cidrs=10.1.0.0/16', '--service-tcp-timeout=10m', '--service-tcpfin-timeout=1m', '--service-udp-timeout=30s'],
    ['--bgp-holdtime=9s', '--bgp-port=1790', '--bgp-graceful-restart-time=2m', '--bgp-graceful-restart-deferral-time=6m', '--enable-bfd', '--bfd-desired-min-tx-interval=300ms'],
    ['--config-sync-period=1m', '--cluster-cidr=10.244.0.0/16', '--run-router=true'],
    ['--netpol-default-deny', '--run-firewall=true', '--use-nftables-for-netpol=false', '--run-loadbalancer', '--loadbalancer-default-class=false', '--loadbalancer-sync-period=2m'],
  ];
  for (const args of upstreamArgSets) {
    it(`accepts: ${args.join(' ')}`, () => {
      const r = loadConfig(args, deps);
      assert.equal(r.kind, 'run', JSON.stringify(r));
    });
  }
});
