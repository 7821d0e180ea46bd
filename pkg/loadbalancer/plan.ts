import type { LoadBalancerRequest } from '../k8s/kinds/service.js';
import { bitsOf, cidrContains, cidrParts, familyOf, ipToBigInt, nthAddress, type CIDR, type Family, type IP } from '../util/ip.js';

/** What the allocator reads of a Service (parsed by the Service parser, pkg/k8s/kinds/service.ts). */
export type LbService = LoadBalancerRequest;

export interface LbPlan {
  /** Services whose status gets these addresses (what they keep plus what is new). */
  readonly assign: ReadonlyMap<string, readonly IP[]>;
  /** Services that are no longer ours to serve (no longer type LoadBalancer) and still hold our addresses. */
  readonly release: readonly string[];
  /** A family of a Service for which the ranges have no free address left. */
  readonly exhausted: readonly { readonly key: string; readonly family: Family }[];
}

/** The classes this allocator serves (upstream's: `kube-router` and `default`, and none with the default-class flag). */
export function servedByUs(s: LbService, defaultClass: boolean): boolean {
  if (!s.isLoadBalancer) return false;
  if (s.loadBalancerClass === undefined) return defaultClass;
  return s.loadBalancerClass === 'kube-router' || s.loadBalancerClass === 'default';
}

/** At most this many addresses are looked at per allocation (a /8 of used addresses does not stall a sync). */
const SCAN_BUDGET = 1 << 16;

/** The addresses of a range to hand out: for IPv4 prefixes shorter than /31, not the first and the last. */
function* rangeAddresses(c: CIDR): Generator<IP> {
  const p = cidrParts(c);
  const size = 1n << BigInt(bitsOf(p.family) - p.prefix);
  const skipEnds = p.family === 4 && p.prefix < 31;
  for (let n = skipEnds ? 1n : 0n; n < (skipEnds ? size - 1n : size); n++) yield nthAddress(c, n);
}

/**
 * Pure: which Services get which addresses. Every address already in any Service's status counts as
 * taken (the Services' status is the allocator's only state: a restart, or a new leader, allocates
 * nothing twice). A Service keeps the addresses it has; a missing family gets the requested address
 * when it is in range and free, else the lowest free one; Services are served in key order.
 */
export function planLoadBalancers(services: readonly LbService[], ranges: readonly CIDR[], defaultClass: boolean): LbPlan {
  const used = new Set<bigint>(services.flatMap((s) => s.ingress.map(ipToBigInt)));
  const inRange = (ip: IP): boolean => ranges.some((r) => cidrContains(r, ip));
  const assign = new Map<string, IP[]>();
  const release: string[] = [];
  const exhausted: { key: string; family: Family }[] = [];
  for (const s of [...services].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (!s.isLoadBalancer) {
      if (s.ingress.some(inRange)) release.push(s.key);
      continue;
    }
    if (!servedByUs(s, defaultClass)) continue;
    const have = [...s.ingress];
    let changed = false;
    for (const family of s.families) {
      if (have.some((ip) => familyOf(ip) === family)) continue;
      const wanted = s.requested.find((ip) => familyOf(ip) === family && inRange(ip) && !used.has(ipToBigInt(ip)));
      let pick: IP | undefined = wanted;
      for (const r of ranges) {
        if (pick || familyOf(r) !== family) continue;
        let looked = 0;
        for (const ip of rangeAddresses(r)) {
          if (++looked > SCAN_BUDGET) break;
          if (!used.has(ipToBigInt(ip))) {
            pick = ip;
            break;
          }
        }
      }
      if (!pick) {
        exhausted.push({ key: s.key, family });
        continue;
      }
      used.add(ipToBigInt(pick));
      have.push(pick);
      changed = true;
    }
    if (changed) assign.set(s.key, have);
  }
  return { assign, release, exhausted };
}
