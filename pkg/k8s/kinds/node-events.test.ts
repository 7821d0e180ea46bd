import assert from 'node:assert/strict';
import { toKubeObject, type KubeObject, type StoreEvent } from '../object.js';
import { nodeEventMatters } from './node.js';

const node = (over: { ip?: string; cidr?: string; labels?: Record<string, string>; annotations?: Record<string, string>; heartbeat?: string } = {}): KubeObject =>
  toKubeObject({
    metadata: { name: 'n1', labels: over.labels ?? { 'topology.kubernetes.io/zone': 'a' }, annotations: over.annotations ?? {} },
    spec: { podCIDRs: [over.cidr ?? '198.18.64.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: over.ip ?? '198.18.0.11' }], conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: over.heartbeat ?? '2026-12-02T10:00:00Z' }] },
  }) as KubeObject;
const update = (old: KubeObject, obj: KubeObject): StoreEvent => ({ type: 'update', old, obj });

describe('Node events that matter to the controllers', () => {
  it("a kubelet's status heartbeat does not; addresses, pod CIDRs, labels and annotations do; adds and deletes always do", () => {
    assert.equal(nodeEventMatters(update(node(), node({ heartbeat: '2026-12-02T10:05:00Z' }))), false);
    assert.equal(nodeEventMatters(update(node(), node({ ip: '198.18.0.12' }))), true);
    assert.equal(nodeEventMatters(update(node(), node({ cidr: '198.18.65.0/24' }))), true);
    assert.equal(nodeEventMatters(update(node(), node({ labels: { 'topology.kubernetes.io/zone': 'b' } }))), true);
    assert.equal(nodeEventMatters(update(node(), node({ annotations: { 'kube-router.io/peers': '- remoteip: 198.18.0.200\n  remoteasn: 65000\n' } }))), true);
    assert.equal(nodeEventMatters({ type: 'add', obj: node() }), true);
    assert.equal(nodeEventMatters({ type: 'delete', obj: node() }), true);
  });
});
