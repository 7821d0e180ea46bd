import type { KubeObject } from '../object.js';
import { tryParseIP, type IP } from '../../util/ip.js';
import { asArray, asNumber, asRecord, asString, ownValue } from '../../util/json.js';

import { API_PROTOCOLS, type PolicyProtocol } from './protocol.js';

export interface ContainerPortInfo {
  readonly name: string;
  readonly protocol: PolicyProtocol;
  readonly port: number;
}

export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly nodeName?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ips: readonly IP[];
  readonly hostNetwork: boolean;
  /** Named container ports (unnamed ones cannot be referred to by a policy). */
  readonly namedPorts: readonly ContainerPortInfo[];
}



/**
 * A pod as the firewall sees it, or undefined when it has no part in policy: finished pods
 * (Succeeded/Failed) hold no traffic and their IP may already belong to another pod.
 */
export function parsePod(o: KubeObject): PodInfo | undefined {
  const namespace = o.metadata.namespace;
  if (namespace === undefined) return undefined;
  const spec = asRecord(o.raw['spec']);
  const status = asRecord(o.raw['status']);
  const phase = asString(status?.['phase']);
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const ips: IP[] = [];
  for (const x of asArray(status?.['podIPs'])) {
    const ip = tryParseIP(asString(asRecord(x)?.['ip']) ?? '');
    if (ip && !ips.includes(ip)) ips.push(ip);
  }
  const single = tryParseIP(asString(status?.['podIP']) ?? '');
  if (single && !ips.includes(single)) ips.push(single);
  const namedPorts: ContainerPortInfo[] = [];
  for (const c of [...asArray(spec?.['containers']), ...asArray(spec?.['initContainers'])]) {
    for (const p of asArray(asRecord(c)?.['ports'])) {
      const pr = asRecord(p);
      const name = asString(pr?.['name']);
      const port = asNumber(pr?.['containerPort']);
      const protocol = ownValue(API_PROTOCOLS, asString(pr?.['protocol']) ?? 'TCP');
      if (name && port !== undefined && Number.isInteger(port) && port >= 1 && port <= 65535 && protocol) namedPorts.push({ name, protocol, port });
    }
  }
  const nodeName = asString(spec?.['nodeName']);
  return {
    namespace,
    name: o.metadata.name,
    ...(nodeName ? { nodeName } : {}),
    labels: o.metadata.labels,
    ips,
    hostNetwork: spec?.['hostNetwork'] === true,
    namedPorts,
  };
}
