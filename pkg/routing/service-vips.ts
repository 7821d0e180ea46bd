import type { KubeObject } from '../k8s/object.js';
import { familyOf, tryParseIP, type CIDR, type IP } from '../util/ip.js';
import { asArray, asRecord, asString } from '../util/json.js';

/** What the router needs of a Service to decide which of its addresses to advertise. */
export interface VipService {
  readonly clusterIPs: readonly IP[];
  readonly externalIPs: readonly IP[];
  readonly loadBalancerIPs: readonly IP[];
  readonly externalLocal: boolean;
  readonly internalLocal: boolean;
  /** Per-service overrides of the --advertise-* flags (`kube-router.io/service.advertise.*`). */
  readonly override: { readonly clusterIP?: boolean; readonly externalIP?: boolean; readonly loadBalancerIP?: boolean };
}

const ips = (v: unknown): IP[] => asArray(v).flatMap((x) => {
  const ip = tryParseIP(asString(x) ?? '');
  return ip ? [ip] : [];
});

function flag(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

export function parseVipService(o: KubeObject): VipService | undefined {
  const spec = asRecord(o.raw['spec']);
  if (!spec || spec['type'] === 'ExternalName') return undefined;
  const ann = o.metadata.annotations;
  const clusterIPs = ips(spec['clusterIPs']);
  if (clusterIPs.length === 0) clusterIPs.push(...ips([spec['clusterIP']]));
  const lb = asArray(asRecord(asRecord(o.raw['status'])?.['loadBalancer'])?.['ingress']).flatMap((i) => ips([asRecord(i)?.['ip']]));
  const skipLb = ann['kube-router.io/service.skiplbips'] === 'true';
  const override: { clusterIP?: boolean; externalIP?: boolean; loadBalancerIP?: boolean } = {};
  const c = flag(ann['kube-router.io/service.advertise.clusterip']);
  const e = flag(ann['kube-router.io/service.advertise.externalip']);
  const l = flag(ann['kube-router.io/service.advertise.loadbalancerip']);
  if (c !== undefined) override.clusterIP = c;
  if (e !== undefined) override.externalIP = e;
  if (l !== undefined) override.loadBalancerIP = l;
  return {
    clusterIPs,
    externalIPs: ips(spec['externalIPs']),
    loadBalancerIPs: skipLb ? [] : lb,
    externalLocal: spec['externalTrafficPolicy'] === 'Local' || ann['kube-router.io/service.local'] === 'true',
    internalLocal: spec['internalTrafficPolicy'] === 'Local',
    override,
  };
}

/** Whether an EndpointSlice has a ready endpoint on this node, and which service it belongs to. */
export function sliceLocalReady(o: KubeObject, nodeName: string): { readonly service: string; readonly localReady: boolean } | undefined {
  const svc = o.metadata.labels['kubernetes.io/service-name'];
  if (!svc || o.metadata.namespace === undefined) return undefined;
  const localReady = asArray(o.raw['endpoints']).some((e) => {
    const r = asRecord(e);
    const ready = asRecord(r?.['conditions'])?.['ready'];
    return asString(r?.['nodeName']) === nodeName && ready !== false;
  });
  return { service: `${o.metadata.namespace}/${svc}`, localReady };
}

/**
 * The service addresses this node advertises (reference §4.6): by flag or annotation; a VIP whose
 * traffic policy is Local is withdrawn while this node has no ready local endpoint. Pure.
 */
export function vipsToAdvertise(services: Iterable<[string, VipService]>, hasLocal: (svc: string) => boolean, flags: { readonly clusterIP: boolean; readonly externalIP: boolean; readonly loadBalancerIP: boolean }): CIDR[] {
  const out = new Set<string>();
  const host = (ip: IP): string => `${ip}/${familyOf(ip) === 4 ? 32 : 128}`;
  for (const [key, s] of services) {
    if (s.override.clusterIP ?? flags.clusterIP) if (!s.internalLocal || hasLocal(key)) for (const ip of s.clusterIPs) out.add(host(ip));
    const ext = !s.externalLocal || hasLocal(key);
    if ((s.override.externalIP ?? flags.externalIP) && ext) for (const ip of s.externalIPs) out.add(host(ip));
    if ((s.override.loadBalancerIP ?? flags.loadBalancerIP) && ext) for (const ip of s.loadBalancerIPs) out.add(host(ip));
  }
  return [...out].sort() as CIDR[];
}
