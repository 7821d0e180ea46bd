import assert from 'node:assert/strict';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { apply, client, destroyLab, nodeHealth, probe, restartApi, startDaemon, status, up, waitHealthy } from '../../lab/lab.js';
import { builtControlPlane } from '../../lab/control-plane/binaries.js';
import { adminKubeconfig, compactEtcd, nodeCredentials, restartApiserver, shippedRbac, stopApiserver } from '../../lab/control-plane/kubernetes.js';
import { KubeApiError, type JsonObject } from '../../lab/kube-client.js';
import { kubectlArgv } from '../../lab/kubectl.js';
import { netns, nodeName } from '../../lab/plan.js';
import { isAlive, spawnDetached } from '../../lab/processes.js';
import { run } from '../../lab/sh.js';
import { saveState, type LabState } from '../../lab/state.js';
import { DIST } from '../../lab/dist.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const LAB = testLabName('lk');
const quiet = (): void => undefined;
const docs = (yaml: string): JsonObject[] => parseAllDocuments(yaml).map((d) => d.toJS() as JsonObject);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(200);
  }
}

const APP = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, annotations: {kube-router.io/service.scheduler: bogus}}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop}
spec: {nodeName: node-2, containers: [{name: c}]}
`;

/**
 * The lab on the real control plane (kube-apiserver, kube-controller-manager and etcd built from their
 * Go modules): what the lab plays (the kubelets) goes through the same authorizers as in a cluster,
 * kube-router runs with exactly the shipped RBAC, and the watch layer meets the real API server's
 * pagination, bookmarks, 410 Gone and restarts.
 */
describe('the lab on the real Kubernetes control plane', function () {
  this.timeout(240_000);
  let st: LabState;
  const kubectl = async (...args: string[]): Promise<string> => {
    const argv = kubectlArgv(st, args);
    return (await run(...argv)).stdout;
  };
  const daemonLog = (i: number): string => readFileSync(join(st.dir, `${nodeName(i)}.log`), 'utf8');
  const restartDaemon = async (i: number): Promise<void> => {
    const pid = st.daemons[nodeName(i)];
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      await until('the daemon stops', async () => Promise.resolve(!isAlive(pid)), 15_000);
    }
    writeFileSync(join(st.dir, `${nodeName(i)}.log`), '');
    st.daemons[nodeName(i)] = startDaemon(st, i);
    saveState(st);
  };
  const webIP = async (): Promise<string> => String(((await client(st).get('Service', 'shop', 'web'))?.['spec'] as JsonObject)['clusterIP']);

  before(async function () {
    if (!builtControlPlane()) {
      // setup.sh builds it (CI does); without it the fixture suites still run.
      this.skip();
    }
    await removeStaleTestLabs('lk');
    await destroyLab(LAB);
    st = await up({ name: LAB, nodes: 2, subnets: 1, peer: 'none', ipv6: false, daemonArgs: [], controlPlane: 'kubernetes' }, quiet);
    await apply(st, docs(APP), quiet);
  });
  after(async () => {
    if (st) await destroyLab(LAB);
  });

  it('node IPAM gives the pod CIDRs; the real EndpointSlice controller lists the pod once its kubelet reports it Ready', async () => {
    const nodes = JSON.parse(await kubectl('get', 'nodes', '-o', 'json')) as { items: { metadata: { name: string }; spec: { podCIDRs?: string[] } }[] };
    assert.deepEqual(
      nodes.items.map((n) => [n.metadata.name, n.spec.podCIDRs]),
      [
        ['node-1', ['198.18.64.0/24']],
        ['node-2', ['198.18.65.0/24']],
      ],
    );
    // The EndpointSlice controller publishes the pod asynchronously once its kubelet reports it Ready.
    const list = (): Promise<JsonObject[]> => client(st).list('EndpointSlice', 'shop', 'kubernetes.io/service-name=web');
    await until('the slice lists the pod', async () => (await list()).some((x) => ((x['endpoints'] as JsonObject[] | undefined) ?? []).length > 0));
    const slices = await list();
    assert.equal(slices.length, 1);
    assert.equal((slices[0]?.['metadata'] as JsonObject)['labels'] && ((slices[0]?.['metadata'] as JsonObject)['labels'] as Record<string, string>)['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
    const web = st.pods.find((p) => p.name === 'web-1');
    assert.deepEqual((slices[0]?.['endpoints'] as JsonObject[])[0]?.['addresses'], web?.ips);
    // The daemons program the endpoint when their watch delivers the slice, a moment after the API has
    // it; until then the Service has no endpoint and refuses at once (as it should), so the probe waits.
    let r = await probe(st, 'shop/client', `${await webIP()}:80`, 'tcp', 3000);
    for (let i = 0; i < 20 && r.answer !== 'shop/web-1'; i++) {
      await new Promise((res) => setTimeout(res, 250));
      r = await probe(st, 'shop/client', `${await webIP()}:80`, 'tcp', 3000);
    }
    assert.equal(r.answer, 'shop/web-1', r.output);
  });

  it('lab status --json names the control plane and its version', async () => {
    const s = await status(st);
    assert.deepEqual(s['controlPlane'], { kind: 'kubernetes', version: builtControlPlane()?.versions.kubernetes });
  });

  it('each kubelet writes only as its own node: node-2 may not write the status of a pod bound to node-1 (NodeRestriction)', async () => {
    const cred = await nodeCredentials(st.dir, 'node-2');
    const asNode2 = client(st).as(cred.cert, cred.key);
    await assert.rejects(asNode2.patch('Pod', 'shop', 'web-1', { status: { podIP: '198.18.64.99' } }, 'status'), (e: unknown) => e instanceof KubeApiError && e.status === 403);
    const cred1 = await nodeCredentials(st.dir, 'node-1');
    const lease = await client(st).as(cred1.cert, cred1.key).get('Lease', 'kube-node-lease', 'node-1');
    assert.equal((lease?.['spec'] as JsonObject)['holderIdentity'], 'node-1');
  });

  it('kube-router runs in-cluster (no kubeconfig) as kube-system/kube-router with the shipped ClusterRole, and records Events with it', async () => {
    const pid = st.daemons['node-1'] ?? 0;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.ok(!argv.some((a) => a.startsWith('--kubeconfig')), argv.join(' '));
    assert.match(daemonLog(0), /api=https:\/\/198\.18\.0\.2:6443/);
    const role = JSON.parse(await kubectl('get', 'clusterrole', 'kube-router', '-o', 'json')) as { rules: unknown[] };
    const shipped = shippedRbac().find((d) => d['kind'] === 'ClusterRole');
    assert.deepEqual(role.rules, (shipped as { rules: unknown[] }).rules);
    const can = await kubectl('auth', 'can-i', 'watch', 'endpointslices.discovery.k8s.io', '--as=system:serviceaccount:kube-system:kube-router');
    assert.equal(can.trim(), 'yes');
    // The bogus scheduler annotation is reported on the Service as a Warning Event, written with the SA.
    await until('a Warning Event on shop/web', async () => (await client(st).list('Event', 'shop')).some((e) => (e['involvedObject'] as JsonObject)['name'] === 'web' && e['type'] === 'Warning'));
    for (let i = 0; i < 2; i++) assert.doesNotMatch(daemonLog(i), /forbidden|HTTP 403/i, `node-${i + 1} was refused something`);
  });

  it('a verb missing from the ClusterRole: the daemon names the resource and the verb, and recovers once it is granted', async () => {
    const c = client(st);
    const shipped = shippedRbac().find((d) => d['kind'] === 'ClusterRole') as JsonObject & { rules: { resources: string[]; verbs: string[] }[] };
    const without = (resource: string, verb: string): JsonObject => ({ ...shipped, rules: shipped.rules.map((r) => (r.resources.includes(resource) ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r)) });
    const setRole = async (role: JsonObject): Promise<void> => {
      const cur = await c.get('ClusterRole', undefined, 'kube-router');
      await c.update({ ...role, metadata: { name: 'kube-router', resourceVersion: (cur?.['metadata'] as JsonObject)['resourceVersion'] } });
    };
    try {
      await setRole(without('networkpolicies', 'list'));
      await restartDaemon(0);
      await until('the LIST refusal is logged with its verb and resource', async () => Promise.resolve(/needs RBAC verb \\?"list\\?" on \\?"networkpolicies\.networking\.k8s\.io/.test(daemonLog(0))));
      assert.match(daemonLog(0), /cannot list resource \\?"networkpolicies\\?"/, 'the API server message (user, verb, resource) is in the log');
      assert.notEqual(await nodeHealth(st, 0), 200, 'not healthy while its caches cannot sync');
    } finally {
      await setRole(shipped);
    }
    await waitHealthy(st, 0, 60_000);
    try {
      await setRole(without('endpointslices', 'watch'));
      await restartDaemon(0);
      await until('the WATCH refusal is logged with its verb and resource', async () => Promise.resolve(/needs RBAC verb \\?"watch\\?" on \\?"endpointslices\.discovery\.k8s\.io/.test(daemonLog(0))));
    } finally {
      await setRole(shipped);
    }
    await waitHealthy(st, 0, 60_000);
    // The daemons program the endpoint when their watch delivers the slice, a moment after the API has
    // it; until then the Service has no endpoint and refuses at once (as it should), so the probe waits.
    let r = await probe(st, 'shop/client', `${await webIP()}:80`, 'tcp', 3000);
    for (let i = 0; i < 20 && r.answer !== 'shop/web-1'; i++) {
      await new Promise((res) => setTimeout(res, 250));
      r = await probe(st, 'shop/client', `${await webIP()}:80`, 'tcp', 3000);
    }
    assert.equal(r.answer, 'shop/web-1', r.output);
  });

  it('the watch layer on the real API server: LIST in pages, bookmarks, 410 Gone after a compaction and a restart', async () => {
    const c = client(st);
    await apply(st, docs('apiVersion: v1\nkind: Namespace\nmetadata: {name: watchers}'), quiet);
    for (let i = 0; i < 120; i++) await c.call('POST', '/api/v1/namespaces/watchers/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, labels: { probe: 'yes' } }, data: { i: String(i) } });
    const out = join(st.dir, 'reflector-probe.log');
    const pid = spawnDetached(netns.api(LAB), ['node', join(DIST, 'test/reflector-probe.js'), '--kubeconfig', adminKubeconfig(st.dir), '--path', '/api/v1/namespaces/watchers/configmaps', '--label-selector', 'probe=yes', '--page-size', '50', '--watch-timeout', '15'], out);
    const last = (): { lists: number; items: number; synced: boolean; watching: boolean; events: Record<string, number>; restarts: Record<string, number>; lastError: string } => {
      const lines = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter((l) => l.startsWith('{')) : [];
      return JSON.parse(lines[lines.length - 1] ?? '{"lists":0,"items":0,"synced":false,"watching":false,"events":{},"restarts":{},"lastError":""}') as ReturnType<typeof last>;
    };
    try {
      await until('the probe has listed', async () => Promise.resolve(last().synced));
      assert.equal(last().items, 120);
      assert.equal(last().lists, 3, '120 objects in pages of 50: three LIST calls');
      // The API server sends a BOOKMARK before a watch's deadline once it has dispatched an event after it opened.
      await c.call('POST', '/api/v1/namespaces/watchers/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-120', labels: { probe: 'yes' } } });
      await until('a BOOKMARK from the API server before the 15 s watch timeout', async () => Promise.resolve((last().events['BOOKMARK'] ?? 0) >= 1), 30_000);
      assert.equal(last().items, 121);
      // Freeze the probe, move history on and compact it, restart the API server: the probe comes back
      // with a version the new watch cache no longer has, gets 410 Gone and lists again.
      process.kill(pid, 'SIGSTOP');
      for (let i = 121; i < 131; i++) await c.call('POST', '/api/v1/namespaces/watchers/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, labels: { probe: 'yes' } } });
      const listsBefore = last().lists;
      await compactEtcd(st.plan);
      await restartApi(st);
      process.kill(pid, 'SIGCONT');
      await until('the probe lists again and holds 131 objects', async () => Promise.resolve(last().lists > listsBefore && last().items === 131 && last().watching), 60_000);
      const s = last();
      assert.ok((s.restarts['expired'] ?? 0) + (s.events['ERROR'] ?? 0) >= 1 || /410|too old/i.test(s.lastError), `a 410 was seen: ${JSON.stringify(s)}`);
    } finally {
      process.kill(pid, 'SIGTERM');
    }
  });

  it('an API server restart during watches: the daemons pick up what changed after it', async () => {
    await restartApi(st);
    await apply(st, docs(`
apiVersion: v1
kind: Service
metadata: {name: after-restart, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 81, targetPort: 8080}]}`), quiet);
    const ip = String(((await client(st).get('Service', 'shop', 'after-restart'))?.['spec'] as JsonObject)['clusterIP']);
    await until('the new Service is served on node-2', async () => (await probe(st, 'shop/client', `${ip}:81`, 'tcp', 1000)).answer === 'shop/web-1', 60_000);
  });

  it('the API server gone: traffic keeps flowing, health turns 500 after --cache-sync-timeout (30 s), and 200 again when it is back', async () => {
    const cp = st.controlPlane;
    assert.ok(cp?.kind === 'kubernetes');
    const ip = await webIP();
    await stopApiserver(cp.pids);
    saveState(st);
    const t0 = Date.now();
    try {
      await sleep(5000);
      assert.equal(await nodeHealth(st, 1), 200, 'healthy within the timeout');
      assert.equal((await probe(st, 'shop/client', `${ip}:80`, 'tcp', 2000)).answer, 'shop/web-1', 'the datapath does not need the API server');
      await until('health 500 once the last contact is older than --cache-sync-timeout', async () => (await nodeHealth(st, 1)) === 500, 45_000);
      // The watches were open until the stop: "gone" counts from then, so not before the 30 s timeout.
      assert.ok(Date.now() - t0 >= 29_000, `not before the timeout (${Date.now() - t0} ms)`);
    } finally {
      await restartApiserver(st.plan, st.dir, cp.pids);
      saveState(st);
    }
    await until('healthy again with the API server back', async () => (await nodeHealth(st, 1)) === 200, 60_000);
  });

});
