import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { apply, client, destroyLab, probe, up } from '../../lab/lab.js';
import type { JsonObject } from '../../lab/kube-client.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const LAB = testLabName('lz');
const quiet = (): void => undefined;
const docs = (yaml: string): JsonObject[] => parseAllDocuments(yaml).map((d) => d.toJS() as JsonObject);
const svc = (name: string, distribution?: string): string => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: topo}
spec: {${distribution ? `trafficDistribution: ${distribution}, ` : ''}selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---`;
const pod = (name: string, node: string, app: string): string => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: topo, labels: {app: ${app}}}
spec: {nodeName: ${node}, containers: [{name: c, ports: [{containerPort: 8080}]}]}
---`;

/**
 * trafficDistribution with real packets: three nodes, node-1 and node-3 in zone-1, node-2 in zone-2;
 * web pods on node-1 and node-2; a client on each node. On the real control plane the EndpointSlice
 * controller writes the hints kube-router follows.
 */
describe('trafficDistribution in the lab: PreferSameNode, PreferSameZone, the default', function () {
  this.timeout(240_000);
  let st: LabState | undefined;
  const answers = async (from: string, service: string, n = 8): Promise<Set<string>> => {
    const ip = String(((await client(st as LabState).get('Service', 'topo', service))?.['spec'] as JsonObject)['clusterIP']);
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add((await probe(st as LabState, from, `${ip}:80`, 'tcp', 2000)).answer ?? 'refused');
    return seen;
  };

  before(async () => {
    await removeStaleTestLabs('lz');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 3, subnets: 1, peer: 'none', ipv6: false, daemonArgs: [] }, quiet);
    await apply(st, docs(`apiVersion: v1\nkind: Namespace\nmetadata: {name: topo}\n---${svc('same-node', 'PreferSameNode')}${svc('same-zone', 'PreferSameZone')}${svc('spread')}${pod('web-1', 'node-1', 'web')}${pod('web-2', 'node-2', 'web')}${pod('c1', 'node-1', 'client')}${pod('c2', 'node-2', 'client')}${pod('c3', 'node-3', 'client')}`), quiet);
  });
  after(async () => {
    if (st) await destroyLab(LAB);
  });

  it('on the real control plane the EndpointSlice controller hints each endpoint for its node and zone', async function () {
    if (st?.controlPlane?.kind !== 'kubernetes') this.skip();
    const hints = async (): Promise<string[]> => {
      const slices = await client(st as LabState).list('EndpointSlice', 'topo', 'kubernetes.io/service-name=same-node');
      return slices.flatMap((s) => ((s['endpoints'] as JsonObject[] | undefined) ?? []).map((e) => JSON.stringify(e['hints'] ?? null))).sort();
    };
    for (let i = 0; i < 50 && (await hints()).some((h) => !h.includes('forNodes')); i++) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await hints(), ['{"forZones":[{"name":"zone-1"}],"forNodes":[{"name":"node-1"}]}', '{"forZones":[{"name":"zone-2"}],"forNodes":[{"name":"node-2"}]}']);
  });

  it('PreferSameNode: the endpoint on the client\'s node; a node without one uses its zone', async () => {
    assert.deepEqual([...(await answers('topo/c1', 'same-node'))], ['topo/web-1']);
    assert.deepEqual([...(await answers('topo/c2', 'same-node'))], ['topo/web-2']);
    assert.deepEqual([...(await answers('topo/c3', 'same-node'))], ['topo/web-1'], 'node-3 has no endpoint: zone-1 has web-1');
  });

  it('PreferSameZone: the endpoints in the client\'s zone', async () => {
    assert.deepEqual([...(await answers('topo/c3', 'same-zone'))], ['topo/web-1']);
    assert.deepEqual([...(await answers('topo/c2', 'same-zone'))], ['topo/web-2']);
  });

  it('without trafficDistribution: every endpoint, from every node', async () => {
    assert.deepEqual([...(await answers('topo/c1', 'spread', 16))].sort(), ['topo/web-1', 'topo/web-2']);
  });
});
