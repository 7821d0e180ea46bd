import type { NodeContext } from './types.js';
import type { Endpoint } from '../../k8s/kinds/endpoint-slice.js';

/**
 * Which endpoints get new connections (kube-proxy's CategorizeEndpoints, in spirit):
 * - Local policy: only this node's endpoints.
 * - Ready endpoints if there are any; otherwise the ones that are serving and terminating
 *   (terminating fallback: traffic keeps flowing during a rollout of the last pods).
 * - Topology from the EndpointSlice hints, as kube-proxy: when every ready endpoint has node hints
 *   and one is hinted for this node, those for this node (PreferSameNode); otherwise, when every ready
 *   endpoint has zone hints and one is hinted for this node's zone, those for this zone
 *   (PreferSameZone, PreferClose); otherwise all.
 * - Slices without hints (made by something other than the EndpointSlice controller) fall back on the
 *   Service's trafficDistribution and the endpoints' own node and zone: this node's ready endpoints
 *   (PreferSameNode), else this zone's (either), else all.
 */
export function selectEndpoints(all: readonly Endpoint[], local: boolean, distribution: 'zone' | 'node' | undefined, node: NodeContext): Endpoint[] {
  const candidates = local ? all.filter((e) => e.nodeName === node.name) : all;
  const ready = candidates.filter((e) => e.ready);
  if (ready.length === 0) return candidates.filter((e) => e.serving && e.terminating);
  if (local) return ready;
  if (ready.every((e) => (e.hintNodes?.length ?? 0) > 0)) {
    const n = ready.filter((e) => e.hintNodes?.includes(node.name));
    if (n.length > 0) return n;
  }
  if (node.zone !== undefined && ready.every((e) => (e.hintZones?.length ?? 0) > 0)) {
    const z = ready.filter((e) => e.hintZones?.includes(node.zone as string));
    if (z.length > 0) return z;
  }
  const hinted = ready.some((e) => e.hintZones !== undefined || e.hintNodes !== undefined);
  if (hinted || distribution === undefined) return ready;
  if (distribution === 'node') {
    const n = ready.filter((e) => e.nodeName === node.name);
    if (n.length > 0) return n;
  }
  if (node.zone !== undefined) {
    const z = ready.filter((e) => e.zone === node.zone);
    if (z.length > 0) return z;
  }
  return ready;
}
