import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { execFileSync } from 'node:child_process';
import { apply, client, destroyLab, inspectSocket, probe, restartApi, up } from '../../lab/lab.js';
import { KUBE_ROUTER_BIN } from '../../test/paths.js';
import { promQuery } from '../../lab/prometheus.js';
import { DASHBOARD_ROWS } from '../../manifests/dashboard.js';
import type { JsonObject } from '../../lab/kube-client.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const LAB = testLabName('lo');
const quiet = (): void => undefined;
const docs = (yaml: string): JsonObject[] => parseAllDocuments(yaml).map((d) => d.toJS() as JsonObject);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const WORKLOAD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, annotations: {kube-router.io/service.scheduler: bogus}}
spec: {type: NodePort, selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web}}
spec: {nodeName: node-2, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec: {nodeName: node-2, containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]}
`;

/**
 * Real Prometheus (Debian's) scraping every node as the PodMonitor would, and the shipped Grafana
 * dashboard's every query evaluated against it after a workload: each returns data.
 */
describe('operators: real Prometheus and the Grafana dashboard in the lab', function () {
  this.timeout(240_000);
  let st: LabState;

  before(async () => {
    await removeStaleTestLabs('lo');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 2, subnets: 1, peer: 'bird', ipv6: false, daemonArgs: ['--advertise-cluster-ip=true', '--routes-sync-period=10s'], prometheus: true }, quiet);
    await apply(st, docs(WORKLOAD), quiet);
  });
  after(async () => {
    if (st) await destroyLab(LAB);
  });

  it('Prometheus scrapes every node daemon (targets up)', async () => {
    let up: { metric: Record<string, string>; value: number }[] = [];
    for (let i = 0; i < 50 && up.filter((s) => s.value === 1).length < 2; i++) {
      up = await promQuery(st.plan, 'up{job="kube-system/kube-router"}');
      await sleep(200);
    }
    assert.deepEqual(up.filter((s) => s.value === 1).map((s) => s.metric['node']).sort(), ['node-1', 'node-2']);
  });

  it('every panel of the dashboard returns data after a workload', async () => {
    // More of the workload: an API server restart (watch restarts), a pod going away and coming back,
    // the policy changed, and traffic through the service (per-service counters).
    await restartApi(st);
    await apply(st, docs(WORKLOAD.split('---').filter((d) => d.includes('web-2')).join('---')), quiet);
    await apply(st, docs(WORKLOAD.split('---').filter((d) => d.includes('NetworkPolicy')).join('---').replace('ingress: [{from:', 'ingress: [{ports: [{port: 8080}], from:')), quiet);
    const web = String(((await client(st).get('Service', 'shop', 'web'))?.['spec'] as JsonObject)['clusterIP']);
    // The client's node serves exactly the current web pods (the re-created web-2 has a new address).
    const want = (st.pods.filter((p) => p.name.startsWith('web-')).map((p) => `${p.ips[0] ?? ''}:8080`)).sort().join(' ');
    const programmed = (): string => {
      const rows = JSON.parse(execFileSync('node', [KUBE_ROUTER_BIN, 'proxy', 'services', 'shop/web', '--json', '--socket', inspectSocket(st, 'node-2')], { encoding: 'utf8' })) as { frontend: string; programmed: { addr: string }[] }[];
      return (rows.find((r) => r.frontend === `${web}:80/tcp`)?.programmed ?? []).map((b) => b.addr).sort().join(' ');
    };
    for (let i = 0; i < 100 && programmed() !== want; i++) await sleep(100);
    assert.equal(programmed(), want);
    for (let i = 0; i < 10; i++) assert.ok((await probe(st, 'shop/client', `${web}:80`, 'tcp', 2000)).ok, 'the client reaches web');
    await sleep(8000); // a few scrapes (every 2 s)
    const empty: string[] = [];
    for (const row of DASHBOARD_ROWS) {
      for (const panel of row.panels) {
        for (const t of panel.exprs) {
          // Grafana's variables: every node, and a window that covers the workload.
          const expr = t.expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '5m');
          const samples = await promQuery(st.plan, expr);
          if (!samples.some((s) => Number.isFinite(s.value))) empty.push(`${row.title} / ${panel.title}: ${expr}`);
        }
      }
    }
    assert.deepEqual(empty, [], 'panels without data');
  });

  it('per-service traffic on nftables: the client connections show up under the service, with upstream labels', async () => {
    const conns = await promQuery(st.plan, 'sum by (svc_namespace, service_name, protocol, port) (kube_router_service_total_connections{svc_namespace="shop"})');
    const web = conns.find((s) => s.metric['service_name'] === 'web' && s.metric['port'] === '80');
    assert.ok(web && web.value >= 10, JSON.stringify(conns));
    const bytes = await promQuery(st.plan, 'sum(kube_router_service_bytes_out{svc_namespace="shop",service_name="web"})');
    assert.ok((bytes[0]?.value ?? 0) > 0, 'reply bytes are counted after the reverse translation');
  });
});
