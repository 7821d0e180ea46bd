import type { Family } from '../../util/ip.js';
import type { Frontend } from '../model/types.js';

/**
 * The proxy's nftables layout, one table per family (`ip kube-router-proxy`, `ip6 kube-router-proxy`).
 * Per-object cost dominates nftables (performance.md §8), so the object count does not grow with
 * services: frontends are grouped into classes by their number of backends N, and each class is one
 * set `fe-N` of `addr . proto . port`, one map `ep-N` of `addr . proto . port . index → backend`, and one
 * rule that picks `numgen random mod N` in it. Everything else is a fixed set of chains and sets;
 * services and endpoints are only elements.
 */
export const TABLE = 'kube-router-proxy';
/** Packet mark bit for "masquerade this connection" (kube-proxy's convention). */
export const MASQ_MARK = 0x4000;
export const CANARY = 'canary';

export const SETS = {
  podCidrs: 'pod-cidrs',
  masq: 'masq-frontends',
  noEndpoints: 'no-endpoints',
  serviceIPs: 'service-ips',
  hairpin: 'hairpin',
  affinity: 'affinity',
} as const;

export function classSet(n: number): string {
  return `fe-${n}`;
}
export function classMap(n: number): string {
  return `ep-${n}`;
}
export function affinitySet(seconds: number): string {
  return `aff-fe-${seconds}`;
}

export interface FamilyWords {
  readonly nftFamily: 'ip' | 'ip6';
  readonly addr: 'ip' | 'ip6';
  readonly addrType: 'ipv4_addr' | 'ipv6_addr';
}

export function words(family: Family): FamilyWords {
  return family === 4 ? { nftFamily: 'ip', addr: 'ip', addrType: 'ipv4_addr' } : { nftFamily: 'ip6', addr: 'ip6', addrType: 'ipv6_addr' };
}

export function protoWord(f: Pick<Frontend, 'protocol'>): string {
  return f.protocol.toLowerCase();
}

/**
 * The elements one frontend owns, as `set\telement` strings. Shared elements (a service IP used by
 * several ports, a hairpin pair) are reference-counted by the caller.
 */
export function frontendElements(key: string, f: Frontend, masqueradeAll: boolean, isLocal: (ip: string) => boolean): string[] {
  const out: string[] = [];
  const n = f.backends.length;
  if (n === 0) out.push(`${SETS.noEndpoints}\t${key}`);
  else {
    out.push(`${classSet(n)}\t${key}`);
    f.backends.forEach((b, i) => out.push(`${classMap(n)}\t${key} . ${i} : ${b.ip} . ${b.port}`));
  }
  if (f.masquerade || masqueradeAll) out.push(`${SETS.masq}\t${key}`);
  if (f.affinitySeconds !== undefined) out.push(`${affinitySet(f.affinitySeconds)}\t${key}`);
  if (f.kind !== 'nodeport' && !isLocal(f.ip)) out.push(`${SETS.serviceIPs}\t${f.ip}`);
  if (f.hairpin) for (const b of f.backends) out.push(`${SETS.hairpin}\t${b.ip} . ${b.ip}`);
  return out;
}
