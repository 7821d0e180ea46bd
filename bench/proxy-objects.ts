import type { JsonObject } from '../fixture/apiserver/store.js';

/** Service i's ClusterIP in 198.18.128.0/17 (room for 32k services). */
export function clusterIP(i: number): string {
  const n = 128 * 256 + 1 + i;
  return `198.18.${Math.floor(n / 256)}.${n % 256}`;
}

/** Endpoint j of service i in 198.19.0.0/16 (a generation counter moves changed endpoints). */
export function endpointIP(i: number, j: number, e: number, gen = 0): string {
  const n = (i * e + j + gen * 7919) % 65000 + 1;
  return `198.19.${Math.floor(n / 256)}.${n % 256}`;
}

export function benchService(i: number): JsonObject {
  return { kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'bench' }, spec: { type: 'ClusterIP', clusterIP: clusterIP(i), clusterIPs: [clusterIP(i)], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
}

export function benchSlice(i: number, ips: readonly string[], port = 8080): JsonObject {
  return {
    kind: 'EndpointSlice',
    metadata: { name: `svc-${i}-1`, namespace: 'bench', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'other-node' })),
  };
}

export function benchObjects(services: number, perService: number): JsonObject[] {
  const out: JsonObject[] = [{ kind: 'Node', metadata: { name: 'bench-node' }, spec: { podCIDRs: ['198.18.64.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.10' }] } }];
  for (let i = 0; i < services; i++) {
    out.push(benchService(i));
    out.push(benchSlice(i, Array.from({ length: perService }, (_, j) => endpointIP(i, j, perService))));
  }
  return out;
}
