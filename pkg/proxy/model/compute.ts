import { compareIP, familyOf, type Family, type IP } from '../../util/ip.js';
import { selectEndpoints } from './endpoints.js';
import type { Backend, DsrTarget, Frontend, FrontendKind, NodeContext, ServiceEndpoints } from './types.js';
import type { Endpoint } from '../../k8s/kinds/endpoint-slice.js';
import type { ServiceInfo, ServicePort } from '../../k8s/kinds/service.js';

/** The nft element key of a frontend: `ip . proto . port`. */
export function frontendKey(ip: IP, protocol: string, port: number): string {
  return `${ip} . ${protocol.toLowerCase()} . ${port}`;
}

/** Sorted by address then port, duplicates removed (sort, then drop equal neighbours). */
function backendsOf(eps: readonly Endpoint[]): Backend[] {
  const sorted = eps.map((e): Backend => ({ ip: e.ip, port: e.port })).sort((a, b) => compareIP(a.ip, b.ip) || a.port - b.port);
  const out: Backend[] = [];
  for (const b of sorted) {
    const last = out[out.length - 1];
    if (!last || last.ip !== b.ip || last.port !== b.port) out.push(b);
  }
  return out;
}

function endpointsFor(sp: ServicePort, eps: ServiceEndpoints | undefined, family: Family): Endpoint[] {
  return (eps?.byPortName.get(`${sp.portName}/${sp.protocol}`) ?? []).filter((e) => familyOf(e.ip) === family);
}

/**
 * Pure: the frontends one Service puts in the kernel for one family. ClusterIPs use the internal
 * traffic policy; NodePorts, externalIPs and LoadBalancer IPs use the external one. Masquerade follows
 * upstream kube-router: sources outside the pod CIDRs are masqueraded, except on external frontends
 * with externalTrafficPolicy Local, which keep the client's address.
 */
export function computeServiceFrontends(svc: ServiceInfo, eps: ServiceEndpoints | undefined, node: NodeContext, family: Family): Frontend[] {
  const out: Frontend[] = [];
  for (const sp of svc.ports) {
    const all = endpointsFor(sp, eps, family);
    const internal = backendsOf(selectEndpoints(all, sp.internalLocal, sp.trafficDistribution, node));
    const hasExternal = sp.nodePort !== undefined || sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0;
    const external = !hasExternal || sp.externalLocal === sp.internalLocal ? internal : backendsOf(selectEndpoints(all, sp.externalLocal, sp.trafficDistribution, node));
    const service = `${sp.namespace}/${sp.name}:${sp.portName}`;
    const dsr = sp.dsr ? { local: dsrTargets(all, external, node) } : undefined;
    const make = (ip: IP, port: number, kind: FrontendKind): Frontend => {
      const isExternal = kind !== 'cluster';
      return {
        ip,
        protocol: sp.protocol,
        port: port as Frontend['port'],
        kind,
        service,
        backends: isExternal ? external : internal,
        masquerade: !(isExternal && sp.externalLocal),
        ...(sp.affinitySeconds !== undefined ? { affinitySeconds: sp.affinitySeconds } : {}),
        hairpin: kind === 'external' || kind === 'loadbalancer' ? sp.hairpinExternalIPs : sp.hairpin,
        scheduler: sp.scheduler,
        schedFlags: sp.schedFlags,
        ...(dsr && (kind === 'external' || kind === 'loadbalancer') ? { dsr } : {}),
      };
    };
    for (const ip of sp.clusterIPs) if (familyOf(ip) === family) out.push(make(ip, sp.port, 'cluster'));
    for (const ip of sp.externalIPs) if (familyOf(ip) === family) out.push(make(ip, sp.port, 'external'));
    for (const ip of sp.loadBalancerIPs) if (familyOf(ip) === family) out.push(make(ip, sp.port, 'loadbalancer'));
    // NodePorts in the families the service has (a single-stack service gets none in the other one).
    const inFamily = sp.clusterIPs.length === 0 || sp.clusterIPs.some((ip) => familyOf(ip) === family);
    if (sp.nodePort !== undefined && inFamily) for (const ip of node.nodePortIPs[family]) out.push(make(ip, sp.nodePort, 'nodeport'));
  }
  return out;
}

/** The backends on this node that name their pod, for the pod side of DSR. Pure. */
function dsrTargets(all: readonly Endpoint[], backends: readonly Backend[], node: NodeContext): DsrTarget[] {
  const chosen = new Set(backends.map((b) => b.ip));
  const out = new Map<string, DsrTarget>();
  for (const e of all) if (e.nodeName === node.name && e.pod !== undefined && chosen.has(e.ip)) out.set(e.pod, { pod: e.pod, ip: e.ip });
  return [...out.values()].sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
}

/** Local endpoints of one service port, for NodePort health checks (healthCheckNodePort). */
export function localReadyEndpoints(sp: ServicePort, eps: ServiceEndpoints | undefined, node: NodeContext): number {
  let n = 0;
  for (const family of [4, 6] as const) n += endpointsFor(sp, eps, family).filter((e) => e.nodeName === node.name && e.ready).length;
  return n;
}
