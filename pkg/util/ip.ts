import { isIPv4, isIPv6 } from 'node:net';
import type { Brand } from './brand.js';
import { ErrorCode, KubeRouterError } from './errors.js';

export type Family = 4 | 6;
/** A canonical IP address text (IPv4 dotted quad, IPv6 RFC 5952 lower-case compressed). */
export type IP = Brand<string, 'IP'>;
/** A canonical CIDR with the host bits cleared, e.g. `198.18.0.0/24`. */
export type CIDR = Brand<string, 'CIDR'>;
export type Port = Brand<number, 'Port'>;

export function familyOf(ip: IP | CIDR): Family {
  return ip.includes(':') ? 6 : 4;
}

/**
 * A dotted quad, or the address of an IPv4 CIDR, as an unsigned 32-bit number, read without allocating
 * (the hot path: 100,000 learned routes go through here).
 */
export function ipv4NumberOf(s: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 47) break; // '/'
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

function ipv4FromNumber(n: number): IP {
  return `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}` as IP;
}

/** The IPv4 netmask of a prefix length, as an unsigned 32-bit number. */
function mask4(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function ipv4ToBig(s: string): bigint {
  return BigInt(ipv4NumberOf(s));
}

function ipv6ToBig(s: string): bigint {
  // Embedded IPv4 tail (::ffff:1.2.3.4) is converted to two hextets first.
  let text = s;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail?.[1]) {
    const n = ipv4ToBig(v4tail[1]);
    text = text.slice(0, -v4tail[1].length) + ((n >> 16n) & 0xffffn).toString(16) + ':' + (n & 0xffffn).toString(16);
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function ipToBigInt(ip: IP): bigint {
  return familyOf(ip) === 4 ? ipv4ToBig(ip) : ipv6ToBig(ip);
}

export function bigIntToIP(n: bigint, family: Family): IP {
  if (family === 4) return ipv4FromNumber(Number(n & 0xffffffffn));
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (length >= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':') as IP;
  return (hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':')) as IP;
}

export function tryParseIP(text: string): IP | undefined {
  const s = text.trim();
  // Node's isIPv4 accepts only canonical dotted quads (no leading zeros), so the text is canonical.
  if (isIPv4(s)) return s as IP;
  if (isIPv6(s) && !s.includes('%')) return bigIntToIP(ipv6ToBig(s), 6);
  return undefined;
}

export function parseIP(text: string): IP {
  const ip = tryParseIP(text);
  if (ip === undefined) throw new KubeRouterError(ErrorCode.Invalid, `invalid IP address ${JSON.stringify(text)}`);
  return ip;
}

/** IPv6 link-local (fe80::/10): addresses the kernel gives interfaces on its own. */
export function isLinkLocal(ip: IP): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(ip);
}

export function bitsOf(family: Family): number {
  return family === 4 ? 32 : 128;
}

export interface CidrParts {
  readonly ip: IP;
  readonly prefix: number;
  readonly family: Family;
}

/** Parses `a.b.c.d/n` or `x::/n`; with `strict`, host bits must be zero. A bare IP is refused. */
export function tryParseCIDR(text: string, strict = false): CIDR | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m?.[1] || !m[2]) return undefined;
  const ip = tryParseIP(m[1]);
  if (ip === undefined) return undefined;
  const family = familyOf(ip);
  const prefix = Number(m[2]);
  if (prefix > bitsOf(family)) return undefined;
  if (family === 4) {
    const v = ipv4NumberOf(ip);
    const masked4 = (v & mask4(prefix)) >>> 0;
    if (strict && masked4 !== v) return undefined;
    return `${ipv4FromNumber(masked4)}/${prefix}` as CIDR;
  }
  const n = ipToBigInt(ip);
  const masked = n & prefixMask(prefix, family);
  if (strict && masked !== n) return undefined;
  return `${bigIntToIP(masked, family)}/${prefix}` as CIDR;
}

export function parseCIDR(text: string, strict = false): CIDR {
  const c = tryParseCIDR(text, strict);
  if (c === undefined) throw new KubeRouterError(ErrorCode.Invalid, `invalid CIDR ${JSON.stringify(text)}`);
  return c;
}

export function prefixMask(prefix: number, family: Family): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefix))) & all;
}

export function cidrParts(c: CIDR): CidrParts {
  const slash = c.lastIndexOf('/');
  const ip = c.slice(0, slash) as IP;
  return { ip, prefix: Number(c.slice(slash + 1)), family: familyOf(ip) };
}

export function cidrContains(c: CIDR, ip: IP): boolean {
  const p = cidrParts(c);
  if (familyOf(ip) !== p.family) return false;
  if (p.family === 4) return ((ipv4NumberOf(ip) & mask4(p.prefix)) >>> 0) === ipv4NumberOf(p.ip);
  return (ipToBigInt(ip) & prefixMask(p.prefix, p.family)) === ipToBigInt(p.ip);
}

/** Whether `inner` lies wholly inside `outer`. */
export function cidrCovers(outer: CIDR, inner: CIDR): boolean {
  const o = cidrParts(outer);
  const i = cidrParts(inner);
  return o.family === i.family && i.prefix >= o.prefix && cidrContains(outer, i.ip);
}

/** An address from its network-order bytes (4 or 16). */
export function ipFromBytes(bytes: Uint8Array): IP {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return bigIntToIP(v, bytes.length === 4 ? 4 : 6);
}

/** An address's network-order bytes (4 or 16). */
export function ipToBytes(ip: IP): Uint8Array {
  if (familyOf(ip) === 4) {
    const v = ipv4NumberOf(ip);
    return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }
  const n = bitsOf(familyOf(ip)) / 8;
  const v = ipToBigInt(ip);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Number((v >> BigInt(8 * (n - 1 - i))) & 0xffn);
  return out;
}

/** The prefix length of a CIDR, read without allocating. */
export function prefixLengthOf(c: CIDR): number {
  let n = 0;
  for (let i = c.lastIndexOf('/') + 1; i < c.length; i++) n = n * 10 + (c.charCodeAt(i) - 48);
  return n;
}

/** An address's network-order bytes written into `buf` at `at` (4 or 16 of them; IPv4 without allocating). */
export function writeIP(ip: IP, buf: Buffer, at: number): number {
  if (familyOf(ip) === 4) {
    buf.writeUInt32BE(ipv4NumberOf(ip), at);
    return 4;
  }
  const b = ipToBytes(ip);
  buf.set(b, at);
  return b.length;
}

/** The n-th address of a CIDR (0 is the network address). */
export function nthAddress(c: CIDR, n: bigint): IP {
  const p = cidrParts(c);
  return bigIntToIP(ipToBigInt(p.ip) + n, p.family);
}

export function tryParsePort(v: unknown): Port | undefined {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? (n as Port) : undefined;
}

export function compareIP(a: IP, b: IP): number {
  const fa = familyOf(a);
  const fb = familyOf(b);
  if (fa !== fb) return fa - fb;
  if (fa === 4) return ipv4NumberOf(a) - ipv4NumberOf(b);
  const x = ipToBigInt(a);
  const y = ipToBigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * CIDRs parsed once for many questions (100,000 learned prefixes each ask): which of them overlaps a
 * prefix (one holds the other). IPv4 is compared as 32-bit numbers.
 */
export class CidrList {
  private readonly v4: readonly { readonly cidr: CIDR; readonly net: number; readonly prefix: number }[];
  private readonly v6: readonly CIDR[];

  constructor(cidrs: readonly CIDR[]) {
    this.v4 = cidrs.filter((c) => familyOf(c) === 4).map((c) => {
      const p = cidrParts(c);
      return { cidr: c, net: ipv4NumberOf(p.ip), prefix: p.prefix };
    });
    this.v6 = cidrs.filter((c) => familyOf(c) === 6);
  }

  /** The first CIDR of the list that holds `c` or lies inside it. */
  overlapping(c: CIDR): CIDR | undefined {
    if (familyOf(c) === 6) return this.v6.find((x) => cidrCovers(x, c) || cidrCovers(c, x));
    if (this.v4.length === 0) return undefined;
    const n = ipv4NumberOf(c);
    const len = prefixLengthOf(c);
    for (const x of this.v4) {
      const m = mask4(Math.min(x.prefix, len));
      if (((n & m) >>> 0) === ((x.net & m) >>> 0)) return x.cidr;
    }
    return undefined;
  }
}
