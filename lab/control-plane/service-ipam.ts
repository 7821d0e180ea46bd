import type { Admit, JsonObject } from '../../fixture/apiserver/store.js';
import { StoreError } from '../../fixture/apiserver/store.js';
import { asArray, asRecord, asString, asNumber } from '../../pkg/util/json.js';
import { cidrParts, nthAddress, parseCIDR } from '../../pkg/util/ip.js';

export interface ServiceIpamConfig {
  readonly serviceCidr: string;
  readonly serviceCidr6?: string;
  readonly lbRange: string;
  readonly nodePortMin: number;
  readonly nodePortMax: number;
}

/**
 * Stand-in for the API server's service allocators (a lab fixture): ClusterIPs, NodePorts and
 * healthCheckNodePorts on create, kept on update; LoadBalancer ingress IPs from the lab's pool, as a
 * load-balancer allocator would write them.
 */
export function serviceIpam(cfg: ServiceIpamConfig, existing: () => JsonObject[]): Admit {
  const used = (): { ips: Set<string>; ports: Set<number>; lb: Set<string> } => {
    const ips = new Set<string>();
    const ports = new Set<number>();
    const lb = new Set<string>();
    for (const s of existing()) {
      const spec = asRecord(s['spec']);
      for (const ip of asArray(spec?.['clusterIPs'])) ips.add(asString(ip) ?? '');
      for (const p of asArray(spec?.['ports'])) {
        const np = asNumber(asRecord(p)?.['nodePort']);
        if (np) ports.add(np);
      }
      const hc = asNumber(spec?.['healthCheckNodePort']);
      if (hc) ports.add(hc);
      for (const i of asArray(asRecord(asRecord(s['status'])?.['loadBalancer'])?.['ingress'])) lb.add(asString(asRecord(i)?.['ip']) ?? '');
    }
    return { ips, ports, lb };
  };
  const nextIP = (cidr: string, taken: Set<string>): string => {
    const c = parseCIDR(cidr);
    const size = 2n ** BigInt((cidrParts(c).family === 4 ? 32 : 128) - cidrParts(c).prefix);
    for (let i = 10n; i < size - 1n && i < 100000n; i++) {
      const ip = nthAddress(c, i);
      if (!taken.has(ip)) return ip;
    }
    throw new StoreError(422, 'Invalid', `no free address in ${cidr}`);
  };
  const nextPort = (taken: Set<number>): number => {
    for (let p = cfg.nodePortMin; p <= cfg.nodePortMax; p++) if (!taken.has(p)) return p;
    throw new StoreError(422, 'Invalid', 'no free node port');
  };
  return (r, obj, old) => {
    if (r.kind !== 'Service') return obj;
    const spec = { ...(asRecord(obj['spec']) ?? {}) } as Record<string, unknown>;
    const oldSpec = asRecord(old?.['spec']);
    const type = asString(spec['type']) ?? 'ClusterIP';
    spec['type'] = type;
    if (type === 'ExternalName') return { ...obj, spec };
    const u = used();
    // Keep what was allocated; allocate what is missing.
    if (spec['clusterIP'] === undefined && oldSpec?.['clusterIP'] !== undefined) {
      spec['clusterIP'] = oldSpec['clusterIP'];
      spec['clusterIPs'] = oldSpec['clusterIPs'];
    }
    if (spec['clusterIP'] === undefined || spec['clusterIP'] === '') {
      const ip = nextIP(cfg.serviceCidr, u.ips);
      const policy = asString(spec['ipFamilyPolicy']);
      const ips = [ip];
      if (cfg.serviceCidr6 && (policy === 'PreferDualStack' || policy === 'RequireDualStack')) ips.push(nextIP(cfg.serviceCidr6, u.ips));
      spec['clusterIP'] = ip;
      spec['clusterIPs'] = ips;
    } else if (spec['clusterIPs'] === undefined) spec['clusterIPs'] = [spec['clusterIP']];
    const oldPorts = asArray(oldSpec?.['ports']).map(asRecord);
    spec['ports'] = asArray(spec['ports']).map((p) => {
      const port = { ...(asRecord(p) ?? {}) } as Record<string, unknown>;
      port['protocol'] ??= 'TCP';
      port['targetPort'] ??= port['port'];
      if ((type === 'NodePort' || type === 'LoadBalancer') && port['nodePort'] === undefined) {
        const prev = oldPorts.find((o) => o?.['port'] === port['port'] && (o?.['protocol'] ?? 'TCP') === port['protocol']);
        const np = asNumber(prev?.['nodePort']) ?? nextPort(u.ports);
        u.ports.add(np);
        port['nodePort'] = np;
      }
      return port;
    });
    if (type === 'LoadBalancer' && asString(spec['externalTrafficPolicy']) === 'Local' && spec['healthCheckNodePort'] === undefined) {
      spec['healthCheckNodePort'] = asNumber(oldSpec?.['healthCheckNodePort']) ?? nextPort(u.ports);
    }
    let status = obj['status'];
    if (type === 'LoadBalancer') {
      const oldIngress = asArray(asRecord(asRecord(old?.['status'])?.['loadBalancer'])?.['ingress']);
      const given = asArray(asRecord(asRecord(obj['status'])?.['loadBalancer'])?.['ingress']);
      const ingress = given.length > 0 ? given : oldIngress.length > 0 ? oldIngress : [{ ip: nextIP(cfg.lbRange, u.lb), ipMode: 'VIP' }];
      status = { loadBalancer: { ingress } };
    }
    return { ...obj, spec, ...(status !== undefined ? { status } : {}) };
  };
}
