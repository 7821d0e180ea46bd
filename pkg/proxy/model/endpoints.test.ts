import assert from 'node:assert/strict';
import type { Endpoint } from '../../k8s/kinds/endpoint-slice.js';
import type { IP, Port } from '../../util/ip.js';
import { selectEndpoints } from './endpoints.js';
import type { NodeContext } from './types.js';

const node = (name: string, zone?: string): NodeContext => ({ name, ...(zone ? { zone } : {}), nodePortIPs: { 4: [], 6: [] }, podCIDRs: [], localIPs: [], primaryIPs: {} });
const ep = (ip: string, nodeName: string, zone: string, hints: { zones?: string[]; nodes?: string[] } = {}, ready = true): Endpoint => ({ ip: ip as IP, port: 8080 as Port, ready, serving: ready, terminating: false, nodeName, zone, ...(hints.zones ? { hintZones: hints.zones } : {}), ...(hints.nodes ? { hintNodes: hints.nodes } : {}) });
const ips = (es: readonly Endpoint[]): string[] => es.map((e) => e.ip);

describe('endpoint selection: trafficDistribution and topology hints (kube-proxy semantics)', () => {
  // As the EndpointSlice controller hints them for PreferSameNode: each endpoint for its node and zone.
  const sameNode = [ep('198.18.64.2', 'n1', 'z1', { zones: ['z1'], nodes: ['n1'] }), ep('198.18.65.2', 'n2', 'z2', { zones: ['z2'], nodes: ['n2'] }), ep('198.18.66.2', 'n3', 'z1', { zones: ['z1'], nodes: ['n3'] })];

  it('PreferSameNode hints: this node\'s endpoints; a node without one falls back to its zone, then to all', () => {
    assert.deepEqual(ips(selectEndpoints(sameNode, false, 'node', node('n1', 'z1'))), ['198.18.64.2']);
    assert.deepEqual(ips(selectEndpoints(sameNode, false, 'node', node('n4', 'z2'))), ['198.18.65.2'], 'zone z2');
    assert.deepEqual(ips(selectEndpoints(sameNode, false, 'node', node('n5', 'z9'))), ['198.18.64.2', '198.18.65.2', '198.18.66.2'], 'no endpoint in its zone either');
  });

  it('zone hints (PreferSameZone, PreferClose): this zone\'s endpoints, else all; hints decide even without the Service field', () => {
    const zoned = sameNode.map(({ hintNodes: _nodes, ...e }): Endpoint => e);
    assert.deepEqual(ips(selectEndpoints(zoned, false, 'zone', node('n1', 'z1'))), ['198.18.64.2', '198.18.66.2']);
    assert.deepEqual(ips(selectEndpoints(zoned, false, undefined, node('n2', 'z2'))), ['198.18.65.2']);
    assert.deepEqual(ips(selectEndpoints(zoned, false, 'zone', node('n9', 'z9'))).length, 3);
  });

  it('hints on only some endpoints: no topology (all ready endpoints), as kube-proxy', () => {
    const mixed = [sameNode[0] as Endpoint, ep('198.18.65.2', 'n2', 'z2')];
    assert.deepEqual(ips(selectEndpoints(mixed, false, 'node', node('n1', 'z1'))), ['198.18.64.2', '198.18.65.2']);
  });

  it('slices without hints: the Service field with the endpoints\' own node and zone', () => {
    const bare = [ep('198.18.64.2', 'n1', 'z1'), ep('198.18.65.2', 'n2', 'z2'), ep('198.18.66.2', 'n3', 'z1')];
    assert.deepEqual(ips(selectEndpoints(bare, false, 'node', node('n3', 'z1'))), ['198.18.66.2']);
    assert.deepEqual(ips(selectEndpoints(bare, false, 'node', node('n4', 'z2'))), ['198.18.65.2']);
    assert.deepEqual(ips(selectEndpoints(bare, false, 'zone', node('n3', 'z1'))), ['198.18.64.2', '198.18.66.2']);
    assert.deepEqual(ips(selectEndpoints(bare, false, undefined, node('n3', 'z1'))).length, 3);
  });

  it('not-ready endpoints never count, and Local policy ignores topology', () => {
    const withDown = [ep('198.18.64.2', 'n1', 'z1', { nodes: ['n1'], zones: ['z1'] }, false), ep('198.18.65.2', 'n2', 'z2', { nodes: ['n2'], zones: ['z2'] })];
    assert.deepEqual(ips(selectEndpoints(withDown, false, 'node', node('n1', 'z1'))), ['198.18.65.2']);
    assert.deepEqual(ips(selectEndpoints(sameNode, true, 'zone', node('n2', 'z2'))), ['198.18.65.2']);
  });
});
