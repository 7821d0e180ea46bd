import { cidrParts, bitsOf, tryParseCIDR, type CIDR, type Family } from '../../util/ip.js';
import { subtractCidrs } from '../../util/cidr-subtract.js';
import type { SetSource } from '../model/chains.js';
import type { FwMatch, FwRule, FwVerdict } from '../model/rules.js';
import { TOP_CHAINS } from '../model/names.js';
import { words } from '../../linux/nftables/family.js';

/**
 * The firewall's nftables layout: one table per family (`ip kube-router-netpol`, `ip6
 * kube-router-netpol`), the same chains as the iptables backend (same names, same rules from the same
 * model), three base chains hooked at filter priority that jump to them, address sets for pod
 * selections, `addr . proto . port` sets for named ports, interval sets for ipBlocks (the excepts cut
 * out, so no `nomatch` is needed). A rule whose peers are several sets (an ipset `list:set` in the
 * iptables backend) becomes one rule per member set. A set `canary` that only we write tells a
 * resync the table is still ours and whole.
 */
export const NETPOL_TABLE = 'kube-router-netpol';
export const NETPOL_CANARY = 'canary';
/** Base chain → the model's top chain it jumps to. */
export const BASE_CHAINS = { input: TOP_CHAINS.INPUT, forward: TOP_CHAINS.FORWARD, output: TOP_CHAINS.OUTPUT } as const;

export function nftFamily(family: Family): 'ip' | 'ip6' {
  return words(family).nftFamily;
}

/** Our ipset names carry `inet6:` for IPv6; nft sets live in a table of their family and need no marker. */
export function nftSetName(name: string): string {
  return name.startsWith('inet6:') ? name.slice('inet6:'.length) : name;
}

/** A set's key type as nft lists it, or undefined for a kind nft does not hold as a set (a union). */
export function setKeyType(source: SetSource, family: Family): string | undefined {
  const addr = words(family).addrType;
  switch (source.kind) {
    case 'local-pods':
    case 'service-vips':
    case 'selection':
    case 'ipBlock':
      return addr;
    case 'named':
      return `${addr} . inet_proto . inet_service`;
    case 'union':
      return undefined;
  }
}

/** A set's declaration body (its key type; interval sets for ipBlocks), or undefined for a union. */
export function setDeclaration(source: SetSource, family: Family): string | undefined {
  const type = setKeyType(source, family);
  if (type === undefined) return undefined;
  return source.kind === 'ipBlock' ? `type ${type}; flags interval;` : `type ${type};`;
}

/** The key type of a dispatch verdict map, as nft lists it. */
export function mapKeyType(family: Family): string {
  return `${words(family).addrType} : verdict`;
}

/** A prefix as nft prints it back: a host prefix is the bare address. */
function prefixText(c: CIDR): string {
  const p = cidrParts(c);
  return p.prefix === bitsOf(p.family) ? p.ip : c;
}

function asCidr(entry: string, family: Family): CIDR | undefined {
  return tryParseCIDR(entry.includes('/') ? entry : `${entry}/${bitsOf(family)}`);
}

/**
 * An ipBlock's interval elements from its hash:net entries (`cidr`, `except nomatch`): the positive
 * prefixes minus the excepts, disjoint, so the set needs no `nomatch` and no auto-merge.
 */
export function ipBlockElements(entries: readonly string[], family: Family): string[] {
  const plus: CIDR[] = [];
  const minus: CIDR[] = [];
  for (const e of entries) {
    const [net = '', flag] = e.split(' ');
    const c = asCidr(net, family);
    if (c) (flag === 'nomatch' ? minus : plus).push(c);
  }
  return plus.flatMap((p) => subtractCidrs(p, minus)).map(prefixText);
}

/** One ipset entry of a set as its nft element (`198.18.0.5,tcp:80` → `198.18.0.5 . tcp . 80`). */
export function nftElement(source: SetSource, entry: string): string {
  if (source.kind !== 'named') return entry;
  const m = /^(.+),(\w+):(\d+)$/.exec(entry);
  return m ? `${m[1]} . ${m[2]} . ${m[3]}` : entry;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

function matchText(m: FwMatch, family: Family): string {
  const ip = words(family).addr;
  const addrDir = (d: 'src' | 'dst'): string => (d === 'src' ? 'saddr' : 'daddr');
  switch (m.kind) {
    case 'established':
      return 'ct state established,related';
    case 'addr':
      return `${ip} ${addrDir(m.dir)} ${m.cidr}`;
    case 'set':
      return `${ip} ${addrDir(m.dir)} ${m.negate === true ? '!= ' : ''}@${nftSetName(m.set)}`;
    case 'named-port':
      return `${ip} daddr . meta l4proto . th dport @${nftSetName(m.set)}`;
    case 'local':
      return `fib ${addrDir(m.dir)} type ${m.negate === true ? '!= ' : ''}local`;
    case 'mark':
      return `meta mark & ${hex(m.bits)} ${m.negate === true ? '!=' : '=='} ${hex(m.bits)}`;
    case 'mark-clear':
      return `meta mark & ${hex(m.bits)} == ${hex(0)}`;
    case 'port':
      return `meta l4proto ${m.protocol}${m.port !== undefined ? ` th dport ${m.port}${m.endPort !== undefined ? `-${m.endPort}` : ''}` : ''}`;
    case 'icmp':
      return family === 4 ? `icmp type ${m.type}` : `icmpv6 type ${m.type}`;
    case 'limit':
      return `limit rate ${m.perMinute}/minute burst ${m.burst} packets`;
  }
}

function verdictText(v: FwVerdict, family: Family): string {
  switch (v.kind) {
    case 'return':
      return 'return';
    case 'jump':
      return `jump ${v.chain}`;
    case 'goto':
      return `goto ${v.chain}`;
    case 'mark':
      return `meta mark set meta mark & ${hex(~v.mask)}${v.value !== 0 ? ` | ${hex(v.value)}` : ''}`;
    case 'log':
      // Counted, so `nft list chain` shows how many denials were logged (iptables counts every rule).
      return `counter log prefix "${v.prefix}" group ${v.group}`;
    case 'reject':
      return family === 4 ? 'reject with icmp type port-unreachable' : 'reject with icmpv6 type port-unreachable';
  }
}

/**
 * One model rule as nft rule texts: one, or one per member when it matches a union of sets (each
 * member alone, so an ipBlock's excepts stay that member's business, as with list:set).
 */
export function nftRules(r: FwRule, family: Family, sources: ReadonlyMap<string, SetSource>): string[] {
  let variants: FwMatch[][] = [[]];
  for (const m of r.match) {
    const src = m.kind === 'set' ? sources.get(m.set) : undefined;
    if (m.kind === 'set' && src?.kind === 'union') {
      if (m.negate === true) throw new Error(`negated union ${m.set} has no nft form`);
      variants = variants.flatMap((v) => src.members.map((member) => [...v, { ...m, set: member }]));
    } else variants = variants.map((v) => [...v, m]);
  }
  return variants.map((ms) => [...ms.map((m) => matchText(m, family)), verdictText(r.verdict, family)].join(' '));
}

/** A verdict map standing for a chain's run of dispatch rules: each member set's pods → jump its chain. */
export interface DispatchMap {
  readonly name: string;
  readonly dir: 'src' | 'dst';
  /** In rule order: a pod in two member sets (an address briefly reused) goes where the first sends it. */
  readonly members: readonly { readonly set: string; readonly chain: string }[];
}

/**
 * A chain's rules in nft form, with each run of dispatch rules (one per namespace with policies) as one
 * `vmap` lookup: a new connection costs one lookup whatever the number of namespaces.
 */
export function chainRules(chain: string, rules: readonly FwRule[], family: Family, sources: ReadonlyMap<string, SetSource>): { lines: string[]; maps: DispatchMap[] } {
  const lines: string[] = [];
  const maps: DispatchMap[] = [];
  const ip = words(family).addr;
  for (let i = 0; i < rules.length; ) {
    const r = rules[i] as FwRule;
    const m = r.match[0];
    if (r.dispatch === true && m?.kind === 'set' && r.match.length === 1 && r.verdict.kind === 'jump') {
      const members: { set: string; chain: string }[] = [];
      const dir = m.dir;
      for (; i < rules.length; i++) {
        const d = rules[i] as FwRule;
        const dm = d.match[0];
        if (d.dispatch !== true || dm?.kind !== 'set' || dm.dir !== dir || d.verdict.kind !== 'jump') break;
        members.push({ set: dm.set, chain: d.verdict.chain });
      }
      const name = `${chain}-dispatch${maps.length > 0 ? `-${maps.length}` : ''}`;
      maps.push({ name, dir, members });
      lines.push(`${ip} ${dir === 'src' ? 'saddr' : 'daddr'} vmap @${name}`);
      continue;
    }
    lines.push(...nftRules(r, family, sources));
    i++;
  }
  return { lines, maps };
}
