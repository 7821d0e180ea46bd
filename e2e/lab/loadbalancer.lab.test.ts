import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { apply, client, destroyLab, probe, startDaemon, up, waitHealthy } from '../../lab/lab.js';
import type { JsonObject } from '../../lab/kube-client.js';
import { netns } from '../../lab/plan.js';
import { isAlive } from '../../lab/processes.js';
import { ipn } from '../../lab/sh.js';
import { saveState, type LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const LAB = testLabName('lb');
const quiet = (): void => undefined;
const docs = (yaml: string): JsonObject[] => parseAllDocuments(yaml).map((d) => d.toJS() as JsonObject);
const lbService = (name: string): string => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: lb}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(250);
  }
}

/**
 * kube-router's LoadBalancer allocator (--run-loadbalancer, on in every lab node on the real control
 * plane) with a small range, 198.19.1.0/29 (.1 to .6): one leader, addresses BIRD learns and the
 * outside reaches, fail-over when the leader's daemon dies, exhaustion reported.
 */
describe('LoadBalancer allocator in the lab (real control plane, BIRD)', function () {
  this.timeout(240_000);
  let st: LabState | undefined;
  const lbIP = async (name: string): Promise<string | undefined> => {
    const s = await client(st as LabState).get('Service', 'lb', name);
    const ingress = (((s?.['status'] as JsonObject | undefined)?.['loadBalancer'] as JsonObject | undefined)?.['ingress'] as JsonObject[] | undefined) ?? [];
    return ingress[0]?.['ip'] as string | undefined;
  };
  const holder = async (): Promise<string | undefined> => ((await client(st as LabState).get('Lease', 'kube-system', 'kube-router-lballoc'))?.['spec'] as JsonObject | undefined)?.['holderIdentity'] as string | undefined;

  before(async function () {
    await removeStaleTestLabs('lb');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 3, subnets: 1, peer: 'bird', ipv6: false, daemonArgs: ['--advertise-loadbalancer-ip=true'], lbRange: '198.19.1.0/29' }, quiet);
    if (st.controlPlane?.kind !== 'kubernetes') this.skip();
    await apply(st, docs(`apiVersion: v1\nkind: Namespace\nmetadata: {name: lb}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: lb, labels: {app: web}}\nspec: {nodeName: node-2, containers: [{name: c, ports: [{containerPort: 8080}]}]}\n---${lbService('first')}`), quiet);
  });
  after(async () => {
    if (st) await destroyLab(LAB);
  });

  it('one node leads; the Service gets the first address; BIRD routes it and the outside reaches the pod', async () => {
    const lead = await until('a leader', holder, 30_000);
    assert.match(lead, /^kube-router-node-\d$/);
    // Leading comes first, the allocation on the leader's next sync.
    assert.equal(await until('the first address', () => lbIP('first'), 30_000), '198.19.1.1');
    const route = await until('BIRD has a route to the address', async () => {
      const r = (await ipn(netns.external(LAB), 'route', 'show', '198.19.1.1/32')).stdout;
      return r.includes('via') ? r : undefined;
    }, 60_000);
    assert.match(route, /proto bird/);
    const r = await probe(st as LabState, 'external', '198.19.1.1:80', 'tcp', 3000);
    assert.equal(r.answer, 'lb/web', r.output);
  });

  it('the leader\'s daemon dies: another node takes the Lease over and allocates', async () => {
    const s = st as LabState;
    const lead = (await holder()) ?? '';
    const node = lead.replace('kube-router-', '');
    const pid = s.daemons[node] as number;
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
    const t0 = Date.now();
    await apply(s, docs(lbService('second')), quiet).catch(() => undefined); // waits at most 15 s for the address
    const ip = await until('the second Service gets an address from the new leader', () => lbIP('second'), 60_000);
    const took = Date.now() - t0;
    const next = await holder();
    assert.notEqual(next, lead);
    assert.equal(ip, '198.19.1.2', 'no address handed out twice');
    assert.ok(took < 30_000, `taken over within the 15 s lease and a 5 s retry (${took} ms)`);
    s.daemons[node] = startDaemon(s, Number(node.replace('node-', '')) - 1);
    saveState(s);
    await waitHealthy(s, Number(node.replace('node-', '')) - 1, 60_000);
  });

  it('the range runs out: the Service gets no address and a Warning Event says why; the others keep theirs', async () => {
    const s = st as LabState;
    for (const n of ['third', 'fourth', 'fifth', 'sixth']) await apply(s, docs(lbService(n)), quiet);
    await client(s).create({ kind: 'Service', metadata: { name: 'seventh', namespace: 'lb' }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const event = await until('a Warning Event on lb/seventh', async () => (await client(s).list('Event', 'lb')).find((e) => (e['involvedObject'] as JsonObject)['name'] === 'seventh' && e['type'] === 'Warning'), 30_000);
    assert.equal(event['reason'], 'KubeRouterRangeExhausted');
    assert.match(String(event['message']), /no free IPv4 address in --loadbalancer-ip-range 198\.19\.1\.0\/29/);
    assert.equal(await lbIP('seventh'), undefined);
    const all = await Promise.all(['first', 'second', 'third', 'fourth', 'fifth', 'sixth'].map(lbIP));
    assert.deepEqual(all, ['198.19.1.1', '198.19.1.2', '198.19.1.3', '198.19.1.4', '198.19.1.5', '198.19.1.6']);
    // Deleting one frees its address for the waiting Service.
    await client(s).delete('Service', 'lb', 'third');
    assert.equal(await until('the freed address goes to the waiting Service', () => lbIP('seventh'), 90_000), '198.19.1.3');
  });
});
