import type { ServiceEndpoints } from './types.js';
import type { Endpoint } from '../../k8s/kinds/endpoint-slice.js';
import type { ParsedSlice } from '../../k8s/kinds/endpoint-slice.js';

/**
 * Merges a Service's EndpointSlices into endpoints by `portName/protocol`. The same address in two
 * slices (a slice being split or merged) counts once, preferring the ready copy.
 */
export function mergeSlices(slices: readonly ParsedSlice[]): ServiceEndpoints {
  // Most services have one slice: nothing to de-duplicate.
  if (slices.length === 1) {
    const s = slices[0] as ParsedSlice;
    const byPortName = new Map<string, Endpoint[]>();
    for (const p of s.ports) {
      const port = p.port as Endpoint['port'];
      const key = `${p.name}/${p.protocol}`;
      const list = byPortName.get(key) ?? [];
      for (const e of s.endpoints) list.push({ ...e, port });
      byPortName.set(key, list);
    }
    return { byPortName };
  }
  const byPort = new Map<string, Map<string, Endpoint>>();
  for (const s of slices) {
    for (const p of s.ports) {
      const key = `${p.name}/${p.protocol}`;
      let m = byPort.get(key);
      if (!m) {
        m = new Map();
        byPort.set(key, m);
      }
      for (const e of s.endpoints) {
        const id = `${e.ip}|${p.port}`;
        const prev = m.get(id);
        if (!prev || (!prev.ready && e.ready)) m.set(id, { ...e, port: p.port as Endpoint['port'] });
      }
    }
  }
  const byPortName = new Map<string, Endpoint[]>();
  for (const [k, m] of byPort) byPortName.set(k, [...m.values()]);
  return { byPortName };
}
