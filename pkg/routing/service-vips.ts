import type { KubeObject } from '../k8s/object.js';
import { parseEndpointSlice } from '../k8s/kinds/endpoint-slice.js';
import type { ServiceInfo } from '../k8s/kinds/service.js';
import { familyOf, type CIDR, type Family, type IP } from '../util/ip.js';
import { frontendKey } from '../proxy/model/compute.js';
import type { FrontendState } from '../runtime/served-frontends.js';

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
 * Whether this node's service proxy has committed a frontend of the Service at `ip`: with an endpoint
 * when `local` (a Local traffic policy), at all otherwise (no endpoints: the proxy refuses the
 * connection, as it should).
 */
export type ServedCheck = (s: ServiceInfo, ip: IP, local: boolean) => boolean;

/**
 * A ServedCheck over the proxy's committed frontends: any port of the Service will do. An address of a
 * family this node does not run (`families`) is left as it was, to the speaker, which sends none: the
 * proxy never commits it, and waiting for it would make every proxy commit ask the router for a sync.
 */
export function servedBy(state: (family: Family, key: string) => FrontendState, families: readonly Family[]): ServedCheck {
  return (s, ip, local) => {
    const family = familyOf(ip);
    if (!families.includes(family)) return true;
    return s.ports.some((p) => {
      const st = state(family, frontendKey(ip, p.protocol, p.port));
      return st === 'served' || (!local && st === 'no-endpoints');
    });
  };
}

/**
 * The service addresses this node advertises (upstream's rules): by flag or annotation; a VIP whose
 * traffic policy is Local is withdrawn while this node has no ready local endpoint. The addresses
 * come from the same parsed Service the proxy serves, so an address the proxy refuses (outside its
 * range, `ipMode: Proxy`, `skiplbips`) is never announced: an annotation narrows or widens the flags,
 * never the ranges. An address is announced only once `served` says the proxy has committed it
 * (`withheld` counts those still waiting). Pure.
 */
export function vipsToAdvertise(services: Iterable<[string, ServiceInfo]>, hasLocal: (svc: string) => boolean, flags: { readonly clusterIP: boolean; readonly externalIP: boolean; readonly loadBalancerIP: boolean }, served: ServedCheck = () => true): { vips: CIDR[]; withheld: number } {
  const out = new Set<string>();
  let withheld = 0;
  const host = (ip: IP): string => `${ip}/${familyOf(ip) === 4 ? 32 : 128}`;
  const add = (s: ServiceInfo, ips: readonly IP[], local: boolean): void => {
    for (const ip of ips) {
      if (served(s, ip, local)) out.add(host(ip));
      else withheld++;
    }
  };
  for (const [key, s] of services) {
    if (s.advertise.clusterIP ?? flags.clusterIP) if (!s.internalLocal || hasLocal(key)) add(s, s.clusterIPs, s.internalLocal);
    const ext = !s.externalLocal || hasLocal(key);
    if ((s.advertise.externalIP ?? flags.externalIP) && ext) add(s, s.externalIPs, s.externalLocal);
    if ((s.advertise.loadBalancerIP ?? flags.loadBalancerIP) && ext) add(s, s.loadBalancerIPs, s.externalLocal);
  }
  return { vips: [...out].sort() as CIDR[], withheld };
}
