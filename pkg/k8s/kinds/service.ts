import type { KubeObject } from '../object.js';
import { asArray, asNumber, asRecord, asString } from '../../util/json.js';
import { cidrContains, tryParseIP, tryParsePort, type CIDR, type Family, type IP, type Port } from '../../util/ip.js';
import type { Protocol } from './protocol.js';
import type { KubeRouterConfig } from '../../options/config.js';

export type Scheduler = 'rr' | 'lc' | 'sh' | 'dh' | 'mh' | 'sed' | 'nq' | 'wrr' | 'wlc';

/** One port of a Service, with everything the proxy needs from the Service around it. */
export interface ServicePort {
  readonly namespace: string;
  readonly name: string;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly port: Port;
  readonly nodePort?: Port;
  readonly clusterIPs: readonly IP[];
  readonly externalIPs: readonly IP[];
  readonly loadBalancerIPs: readonly IP[];
  /** ClientIP affinity timeout; undefined without affinity. */
  readonly affinitySeconds?: number;
  readonly internalLocal: boolean;
  readonly externalLocal: boolean;
  /**
   * spec.trafficDistribution: `zone` for PreferSameZone (and PreferClose, its old name), `node` for
   * PreferSameNode; undefined for the default (or a value this version does not know).
   */
  readonly trafficDistribution?: 'zone' | 'node';
  readonly scheduler: Scheduler;
  readonly schedFlags: readonly string[];
  readonly hairpin: boolean;
  readonly hairpinExternalIPs: boolean;
  /** `kube-router.io/service.dsr: tunnel`: externalIPs and LoadBalancer IPs answer straight from the pod (IPVS only). */
  readonly dsr: boolean;
  readonly healthCheckNodePort?: Port;
}

/** Per-service overrides of the --advertise-* flags (`kube-router.io/service.advertise.*`). */
export interface AdvertiseOverride {
  readonly clusterIP?: boolean;
  readonly externalIP?: boolean;
  readonly loadBalancerIP?: boolean;
}

/**
 * A Service as every controller sees it: the proxy serves its ports, the router advertises its
 * addresses. Addresses are already validated against the configured ranges, so the router can only
 * announce what the proxy serves.
 */
export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  readonly clusterIPs: readonly IP[];
  readonly externalIPs: readonly IP[];
  readonly loadBalancerIPs: readonly IP[];
  readonly internalLocal: boolean;
  readonly externalLocal: boolean;
  readonly advertise: AdvertiseOverride;
  readonly ports: readonly ServicePort[];
}

export interface ServiceParseConfig {
  readonly serviceClusterIPRanges: readonly CIDR[];
  readonly serviceExternalIPRanges: readonly CIDR[];
  readonly loadBalancerIPRanges: readonly CIDR[];
  readonly strictExternalIPValidation: boolean;
  readonly hairpinMode: boolean;
}

export type ParsedService =
  | { readonly kind: 'service'; readonly service: ServiceInfo; readonly problems: readonly string[] }
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly reason: string; readonly budget?: true };

/** Budgets for one Service (documented in the README): beyond them it is not served at all. */
export const MAX_SERVICE_PORTS = 1000;
export const MAX_SERVICE_ADDRESSES = 64;

const SCHEDULERS: ReadonlySet<string> = new Set(['rr', 'lc', 'sh', 'dh', 'mh', 'sed', 'nq', 'wrr', 'wlc']);
export const DEFAULT_AFFINITY_SECONDS = 10800;

/**
 * A Service as every controller sees it (upstream kube-router's rules). Skipped: ExternalName, headless (clusterIP
 * None or the headless label), another proxy's (service-proxy-name). A bad field is dropped with a
 * problem noted; the rest of the Service still works.
 */
export function parseService(o: KubeObject, cfg: ServiceParseConfig): ParsedService {
  const spec = asRecord(o.raw['spec']);
  if (!spec) return { kind: 'rejected', reason: 'no spec' };
  const labels = o.metadata.labels;
  const ann = o.metadata.annotations;
  const proxyName = labels['service.kubernetes.io/service-proxy-name'];
  if (proxyName !== undefined && proxyName !== 'kube-router') return { kind: 'skipped', reason: `service-proxy-name ${proxyName}` };
  if (labels['service.kubernetes.io/headless'] !== undefined) return { kind: 'skipped', reason: 'headless label' };
  const type = asString(spec['type']) ?? 'ClusterIP';
  if (type === 'ExternalName') return { kind: 'skipped', reason: 'ExternalName' };
  const problems: string[] = [];
  const portCount = asArray(spec['ports']).length;
  const addressCount = asArray(spec['externalIPs']).length + asArray(asRecord(asRecord(o.raw['status'])?.['loadBalancer'])?.['ingress']).length;
  if (portCount > MAX_SERVICE_PORTS) return { kind: 'rejected', reason: `${portCount} ports (at most ${MAX_SERVICE_PORTS})`, budget: true };
  if (addressCount > MAX_SERVICE_ADDRESSES) return { kind: 'rejected', reason: `${addressCount} external and LoadBalancer addresses (at most ${MAX_SERVICE_ADDRESSES})`, budget: true };

  const clusterIPTexts = asArray(spec['clusterIPs']).map((x) => asString(x) ?? '');
  if (clusterIPTexts.length === 0 && asString(spec['clusterIP'])) clusterIPTexts.push(asString(spec['clusterIP']) as string);
  if (clusterIPTexts.includes('None')) return { kind: 'skipped', reason: 'headless (clusterIP None)' };
  const clusterIPs: IP[] = [];
  for (const t of clusterIPTexts) {
    const ip = tryParseIP(t);
    if (ip) clusterIPs.push(ip);
    else if (t !== '') problems.push(`clusterIP ${JSON.stringify(t)} is not an IP`);
  }

  const inCluster = (ip: IP): boolean => cfg.serviceClusterIPRanges.some((c) => cidrContains(c, ip));
  const externalIPs: IP[] = [];
  for (const x of asArray(spec['externalIPs'])) {
    const ip = tryParseIP(asString(x) ?? '');
    if (!ip) problems.push(`externalIP ${JSON.stringify(x)} is not an IP`);
    else if (inCluster(ip)) problems.push(`externalIP ${ip} is inside the service cluster IP range`);
    else if (cfg.strictExternalIPValidation && !cfg.serviceExternalIPRanges.some((c) => cidrContains(c, ip))) problems.push(`externalIP ${ip} is outside --service-external-ip-range`);
    else externalIPs.push(ip);
  }

  const loadBalancerIPs: IP[] = [];
  if (ann['kube-router.io/service.skiplbips'] === undefined && type === 'LoadBalancer') {
    const ingress = asArray(asRecord(asRecord(o.raw['status'])?.['loadBalancer'])?.['ingress']);
    for (const x of ingress) {
      const r = asRecord(x);
      const text = asString(r?.['ip']);
      if (text === undefined) continue; // hostname-only ingress
      if (r?.['ipMode'] === 'Proxy') continue;
      const ip = tryParseIP(text);
      if (!ip) problems.push(`loadBalancer ingress ${JSON.stringify(text)} is not an IP`);
      else if (cfg.strictExternalIPValidation && !cfg.loadBalancerIPRanges.some((c) => cidrContains(c, ip))) problems.push(`loadBalancer IP ${ip} is outside --loadbalancer-ip-range`);
      else loadBalancerIPs.push(ip);
    }
  }

  const affinity = asString(spec['sessionAffinity']) === 'ClientIP';
  const timeout = asNumber(asRecord(asRecord(spec['sessionAffinityConfig'])?.['clientIP'])?.['timeoutSeconds']);
  // int32 in the API, 1..86400; anything else (1.5, 1e9) falls back to the default rather than reaching a renderer.
  const affinitySeconds = affinity ? (timeout !== undefined && Number.isInteger(timeout) && timeout > 0 && timeout <= 86400 ? timeout : DEFAULT_AFFINITY_SECONDS) : undefined;

  const etp = asString(spec['externalTrafficPolicy']);
  const externalLocal = etp === 'Local' || etp === 'OnlyLocal' || ann['kube-router.io/service.local'] === 'true';
  const internalLocal = asString(spec['internalTrafficPolicy']) === 'Local';
  const td = asString(spec['trafficDistribution']);
  const trafficDistribution = td === 'PreferClose' || td === 'PreferSameZone' ? 'zone' : td === 'PreferSameNode' ? 'node' : undefined;
  const advertise: { clusterIP?: boolean; externalIP?: boolean; loadBalancerIP?: boolean } = {};
  for (const [field, key] of [['clusterIP', 'clusterip'], ['externalIP', 'externalip'], ['loadBalancerIP', 'loadbalancerip']] as const) {
    const text = ann[`kube-router.io/service.advertise.${key}`];
    if (text === 'true' || text === 'false') advertise[field] = text === 'true';
    else if (text !== undefined) problems.push(`kube-router.io/service.advertise.${key} ${JSON.stringify(text)} is not true or false`);
  }
  const schedText = ann['kube-router.io/service.scheduler'];
  let scheduler: Scheduler = 'rr';
  if (schedText !== undefined) {
    if (SCHEDULERS.has(schedText)) scheduler = schedText as Scheduler;
    else problems.push(`kube-router.io/service.scheduler ${JSON.stringify(schedText)} is unknown; using rr`);
  }
  const schedFlags = (ann['kube-router.io/service.schedflags'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const hairpin = cfg.hairpinMode || ann['kube-router.io/service.hairpin'] !== undefined;
  const hairpinExternalIPs = hairpin && ann['kube-router.io/service.hairpin.externalips'] !== undefined;
  const hc = tryParsePort(asNumber(spec['healthCheckNodePort']));
  const dsrText = ann['kube-router.io/service.dsr'];
  if (dsrText !== undefined && dsrText !== 'tunnel') problems.push(`kube-router.io/service.dsr ${JSON.stringify(dsrText)} is not "tunnel"; served without DSR`);
  const dsr = dsrText === 'tunnel';

  const ports: ServicePort[] = [];
  const seen = new Set<string>();
  for (const x of asArray(spec['ports'])) {
    const p = asRecord(x);
    const port = tryParsePort(asNumber(p?.['port']));
    const protoText = asString(p?.['protocol']) ?? 'TCP';
    const portName = asString(p?.['name']) ?? '';
    if (!port) {
      problems.push(`port ${JSON.stringify(p?.['port'])} is not a valid port`);
      continue;
    }
    if (protoText !== 'TCP' && protoText !== 'UDP' && protoText !== 'SCTP') {
      problems.push(`port ${port}: protocol ${JSON.stringify(protoText)} is not TCP, UDP or SCTP`);
      continue;
    }
    if (seen.has(`${protoText}/${port}`)) {
      problems.push(`port ${port}/${protoText} is listed twice`);
      continue;
    }
    seen.add(`${protoText}/${port}`);
    const nodePortRaw = p?.['nodePort'];
    const nodePort = type === 'NodePort' || type === 'LoadBalancer' ? tryParsePort(asNumber(nodePortRaw)) : undefined;
    if (nodePortRaw !== undefined && nodePort === undefined && (type === 'NodePort' || type === 'LoadBalancer')) problems.push(`nodePort ${JSON.stringify(nodePortRaw)} is not a valid port`);
    ports.push({
      namespace: o.metadata.namespace ?? 'default',
      name: o.metadata.name,
      portName,
      protocol: protoText,
      port,
      ...(nodePort ? { nodePort } : {}),
      clusterIPs,
      externalIPs,
      loadBalancerIPs,
      ...(affinitySeconds !== undefined ? { affinitySeconds } : {}),
      internalLocal,
      externalLocal,
      ...(trafficDistribution ? { trafficDistribution } : {}),
      scheduler,
      schedFlags,
      hairpin,
      hairpinExternalIPs,
      dsr,
      ...(hc && externalLocal && type === 'LoadBalancer' ? { healthCheckNodePort: hc } : {}),
    });
  }
  const service: ServiceInfo = { namespace: o.metadata.namespace ?? 'default', name: o.metadata.name, clusterIPs, externalIPs, loadBalancerIPs, internalLocal, externalLocal, advertise, ports };
  return { kind: 'service', service, problems };
}

/** The parse settings of the daemon's configuration: the proxy and the router read Services the same way. */
export function serviceParseConfig(config: KubeRouterConfig): ServiceParseConfig {
  return {
    serviceClusterIPRanges: config.serviceClusterIPRanges,
    serviceExternalIPRanges: config.serviceExternalIPRanges,
    loadBalancerIPRanges: config.loadBalancerIPRanges,
    strictExternalIPValidation: config.strictExternalIPValidation,
    hairpinMode: config.proxy.hairpinMode,
  };
}

/** What the LoadBalancer allocator reads of a Service. */
export interface LoadBalancerRequest {
  /** `namespace/name`. */
  readonly key: string;
  readonly isLoadBalancer: boolean;
  readonly loadBalancerClass?: string;
  /** spec.ipFamilies (IPv4 when unset). */
  readonly families: readonly Family[];
  /** Addresses asked for (spec.loadBalancerIP). */
  readonly requested: readonly IP[];
  /** status.loadBalancer.ingress[].ip (entries without a valid IP are left out). */
  readonly ingress: readonly IP[];
}

/** The allocator's view of a Service: type, class, IP families, the requested and the assigned addresses. */
export function parseLoadBalancerRequest(o: KubeObject): LoadBalancerRequest {
  const spec = asRecord(o.raw['spec']);
  const ingress = asArray(asRecord(asRecord(o.raw['status'])?.['loadBalancer'])?.['ingress']).flatMap((i) => {
    const ip = tryParseIP(asString(asRecord(i)?.['ip']) ?? '');
    return ip ? [ip] : [];
  });
  const families = asArray(spec?.['ipFamilies']).map((f): Family => (f === 'IPv6' ? 6 : 4));
  const requested = tryParseIP(asString(spec?.['loadBalancerIP']) ?? '');
  const cls = asString(spec?.['loadBalancerClass']);
  return {
    key: `${o.metadata.namespace ?? ''}/${o.metadata.name}`,
    isLoadBalancer: asString(spec?.['type']) === 'LoadBalancer',
    ...(cls !== undefined ? { loadBalancerClass: cls } : {}),
    families: families.length > 0 ? [...new Set(families)] : [4],
    requested: requested ? [requested] : [],
    ingress,
  };
}
