import type { KubeObject } from '../k8s/object.js';
import { parseEndpointSlice } from '../k8s/kinds/endpoint-slice.js';
import type { ServiceInfo } from '../k8s/kinds/service.js';
import { familyOf, type CIDR, type IP } from '../util/ip.js';

/** Whether an EndpointSlice has a ready endpoint on this node, and which service it belongs to. */
export function sliceLocalReady(o: KubeObject, nodeName: string): { readonly service: string; readonly localReady: boolean } | undefined {
  const r = parseEndpointSlice(o);
  if (r.kind !== 'slice') return undefined;
  return { service: r.slice.serviceKey, localReady: r.slice.endpoints.some((e) => e.nodeName === nodeName && e.ready) };
}

/** Whether a Service asks for advertisement by annotation whatever the flags say. */
export function advertisesByAnnotation(s: ServiceInfo): boolean {
  return Object.values(s.advertise).includes(true);
}

/**
 * The service addresses this node advertises (upstream's rules): by flag or annotation; a VIP whose
 * traffic policy is Local is withdrawn while this node has no ready local endpoint. The addresses
 * come from the same parsed Service the proxy serves, so an address the proxy refuses (outside its
 * range, `ipMode: Proxy`, `skiplbips`) is never announced: an annotation narrows or widens the flags,
 * never the ranges. Pure.
 */
export function vipsToAdvertise(services: Iterable<[string, ServiceInfo]>, hasLocal: (svc: string) => boolean, flags: { readonly clusterIP: boolean; readonly externalIP: boolean; readonly loadBalancerIP: boolean }): CIDR[] {
  const out = new Set<string>();
  const host = (ip: IP): string => `${ip}/${familyOf(ip) === 4 ? 32 : 128}`;
  for (const [key, s] of services) {
    if (s.advertise.clusterIP ?? flags.clusterIP) if (!s.internalLocal || hasLocal(key)) for (const ip of s.clusterIPs) out.add(host(ip));
    const ext = !s.externalLocal || hasLocal(key);
    if ((s.advertise.externalIP ?? flags.externalIP) && ext) for (const ip of s.externalIPs) out.add(host(ip));
    if ((s.advertise.loadBalancerIP ?? flags.loadBalancerIP) && ext) for (const ip of s.loadBalancerIPs) out.add(host(ip));
  }
  return [...out].sort() as CIDR[];
}
