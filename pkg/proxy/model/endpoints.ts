import type { NodeContext } from './types.js';
import type { Endpoint } from '../../k8s/kinds/endpoint-slice.js';

/**
 * Which endpoints get new connections (kube-proxy's CategorizeEndpoints, in spirit):
 * - Local policy: only this node's endpoints.
 * - Ready endpoints if there are any; otherwise the ones that are serving and terminating
 *   (terminating fallback: traffic keeps flowing during a rollout of the last pods).
 * - PreferClose (trafficDistribution, or topology hints): when every ready endpoint carries zone
 *   hints, the ones hinted for this node's zone; without hints, ready endpoints in this node's zone;
 *   in both cases only if that leaves at least one, else all.
 */
export function selectEndpoints(all: readonly Endpoint[], local: boolean, preferClose: boolean, node: NodeContext): Endpoint[] {
  const candidates = local ? all.filter((e) => e.nodeName === node.name) : all;
  const ready = candidates.filter((e) => e.ready);
  if (ready.length === 0) return candidates.filter((e) => e.serving && e.terminating);
  if (local || node.zone === undefined) return ready;
  const hinted = ready.every((e) => e.hintZones !== undefined && e.hintZones.length > 0);
  if (hinted) {
    const z = ready.filter((e) => e.hintZones?.includes(node.zone as string));
    return z.length > 0 ? z : ready;
  }
  if (preferClose) {
    const z = ready.filter((e) => e.zone === node.zone);
    return z.length > 0 ? z : ready;
  }
  return ready;
}
