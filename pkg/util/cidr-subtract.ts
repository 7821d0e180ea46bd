import { bigIntToIP, bitsOf, cidrCovers, cidrParts, ipToBigInt, type CIDR } from './ip.js';

function halves(c: CIDR): [CIDR, CIDR] {
  const p = cidrParts(c);
  const prefix = p.prefix + 1;
  const bit = 1n << BigInt(bitsOf(p.family) - prefix);
  const lo = `${p.ip}/${prefix}` as CIDR;
  const hi = `${bigIntToIP(ipToBigInt(p.ip) | bit, p.family)}/${prefix}` as CIDR;
  return [lo, hi];
}

/**
 * The addresses of `from` outside every `minus`, as the fewest disjoint prefixes that split gives
 * (`198.18.0.0/16` minus `198.18.1.0/24` is 8 prefixes). Pure; cost grows with the excepts times the
 * prefix length, not with the addresses.
 */
export function subtractCidrs(from: CIDR, minus: readonly CIDR[]): CIDR[] {
  const f = cidrParts(from);
  const relevant = minus.filter((m) => cidrParts(m).family === f.family && (cidrCovers(from, m) || cidrCovers(m, from)));
  if (relevant.length === 0) return [from];
  if (relevant.some((m) => cidrCovers(m, from))) return [];
  return halves(from).flatMap((h) => subtractCidrs(h, relevant));
}
