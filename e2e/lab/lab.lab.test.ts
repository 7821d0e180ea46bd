import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { JsonObject } from '../../fixture/apiserver/index.js';
import { listNetns } from '../../pkg/linux/netns.js';
import { realExec } from '../../pkg/linux/exec.js';
import { apply, destroyLab, labPids, probe, status, up } from '../../lab/lab.js';
import { identify, stillRunning } from '../../lab/processes.js';
import { labDir } from '../../lab/state.js';
import { run } from '../../lab/sh.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const L1 = testLabName('lta');
const L2 = testLabName('ltb');

const docs = (yaml: string): JsonObject[] => parseAllDocuments(yaml).map((d) => d.toJS() as JsonObject);
const app = (tag: string): string => `
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {clusterIP: 198.18.128.10, selector: {app: echo}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-${tag}, labels: {app: echo}}
spec: {nodeName: node-1, containers: [{name: c, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {nodeName: node-1, containers: [{name: c, ports: [{containerPort: 7}]}]}
`;

describe('lab harness', function () {
  this.timeout(120_000);
  const quiet = (): void => undefined;
  before(async () => {
    await removeStaleTestLabs('lta');
    await removeStaleTestLabs('ltb');
  });
  after(async () => {
    await destroyLab(L1);
    await destroyLab(L2);
  });

  it('two labs side by side do not interfere; probes report allowed and refused; down leaves nothing behind', async () => {
    const rootLinksBefore = (await run('ip', '-br', 'link')).stdout;
    const a = await up({ name: L1, nodes: 2, subnets: 1, peer: 'none', ipv6: false, daemonArgs: [] }, quiet);
    const b = await up({ name: L2, nodes: 1, subnets: 1, peer: 'none', ipv6: false, daemonArgs: [] }, quiet);
    await apply(a, docs(app('a')), quiet);
    await apply(b, docs(app('b')), quiet);
    const sa = await status(a);
    const sb = await status(b);
    const ipA = ((sa['services'] as { clusterIPs: string[] }[])[0]?.clusterIPs ?? [])[0] as string;
    const ipB = ((sb['services'] as { clusterIPs: string[] }[])[0]?.clusterIPs ?? [])[0] as string;
    assert.equal(ipA, ipB, 'both labs serve the same ClusterIP: isolation is what keeps them apart');
    const ra = await probe(a, 'default/client', `${ipA}:80`, 'tcp', 3000);
    const rb = await probe(b, 'default/client', `${ipB}:80`, 'tcp', 3000);
    assert.equal(ra.answer, 'default/echo-a', ra.output);
    assert.equal(rb.answer, 'default/echo-b', rb.output);
    const refused = await probe(a, 'default/client', `${ipA}:81`, 'tcp', 1000);
    assert.equal(refused.ok, false);
    const external = await probe(a, 'external', '198.18.0.11:20244', 'tcp', 1000);
    assert.equal(external.ok, true, 'the external client reaches a node');
    assert.equal(((sa['nodes'] as { daemon: { healthz: number; proxyBackend: string } }[])[0]?.daemon.proxyBackend), 'nftables');

    const procs = [...labPids(a), ...labPids(b)].map(identify).filter((p) => p !== undefined);
    await destroyLab(L1);
    await destroyLab(L2);
    assert.deepEqual((await listNetns(realExec())).filter((n) => n.startsWith(`krl-${L1}-`) || n.startsWith(`krl-${L2}-`)), []);
    assert.deepEqual(procs.filter(stillRunning), []);
    assert.equal(existsSync(labDir(L1)), false);
    assert.equal((await run('ip', '-br', 'link')).stdout, rootLinksBefore, 'no interface left in the root namespace');
  });

  it('down cleans up after a crash (no state file, namespaces and processes left behind)', async () => {
    const a = await up({ name: L1, nodes: 1, subnets: 2, peer: 'none', ipv6: false, daemonArgs: [] }, quiet);
    const procs = labPids(a).map(identify).filter((p) => p !== undefined);
    await run('rm', '-f', `${labDir(L1)}/state.json`);
    await destroyLab(L1);
    assert.deepEqual((await listNetns(realExec())).filter((n) => n.startsWith(`krl-${L1}-`)), []);
    assert.deepEqual(procs.filter(stillRunning), []);
  });
});
