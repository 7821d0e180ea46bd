import type { FakeIpset } from '../linux/ipset/fake.js';
import type { FakeIptables } from '../linux/iptables/fake.js';
import { splitRuleWords } from '../linux/iptables/types.js';
import { cidrContains, cidrParts, familyOf, tryParseCIDR, tryParseIP, type IP } from '../util/ip.js';

export interface FilterPacket {
  readonly src: string;
  readonly dst: string;
  readonly protocol: 'tcp' | 'udp' | 'sctp' | 'icmp';
  readonly dport?: number;
  readonly icmpType?: number;
  /** INPUT: to this node; FORWARD: routed or bridged through it; OUTPUT: sent by a process on it. */
  readonly hook: 'INPUT' | 'FORWARD' | 'OUTPUT';
  readonly state?: 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID';
  /** Addresses that belong to this node (addrtype LOCAL). */
  readonly localAddresses?: readonly string[];
}

export interface FilterVerdict {
  readonly action: 'accept' | 'reject' | 'drop';
  readonly logged: boolean;
  /** `CHAIN: rule` of every rule that matched, in order. */
  readonly matched: readonly string[];
}

class UnknownRule extends Error {}

/**
 * Walks a FakeIptables filter table and FakeIpset sets for one packet, the way netfilter would:
 * the built-in chain for the hook, jumps, gotos and returns, marks, set lookups (hash:net honouring
 * `nomatch` on the most specific prefix). Throws on any match or target it does not know, so a new
 * rule shape cannot slip by untested.
 */
export function evaluateFilter(ipt: FakeIptables, ipset: FakeIpset, p: FilterPacket, startChain?: string): FilterVerdict {
  const src = tryParseIP(p.src) as IP;
  const dst = tryParseIP(p.dst) as IP;
  const family = familyOf(src);
  const local = new Set((p.localAddresses ?? []).map((a) => tryParseIP(a)));
  let mark = 0;
  let logged = false;
  const matched: string[] = [];

  const inSet = (name: string, dirs: string): boolean => {
    const s = ipset.sets.get(name);
    if (!s) throw new UnknownRule(`set ${name} does not exist`);
    const parts = dirs.split(',');
    const ip = parts[0] === 'src' ? src : dst;
    // list:set: a match in any member (each member's own nomatch only stops that member).
    if (s.type === 'list:set') return [...s.entries].some((m) => inSet(m, dirs));
    if (s.family !== family) return false;
    switch (s.type) {
      case 'hash:ip':
        return s.entries.has(ip);
      case 'hash:ip,port': {
        if (parts[1] !== 'dst' || p.dport === undefined) throw new UnknownRule(`hash:ip,port with ${dirs}`);
        return s.entries.has(`${ip},${p.protocol}:${p.dport}`);
      }
      case 'hash:net': {
        let best: { prefix: number; nomatch: boolean } | undefined;
        for (const e of s.entries) {
          const [net = '', flag] = e.split(' ');
          const c = tryParseCIDR(net.includes('/') ? net : `${net}/${family === 4 ? 32 : 128}`);
          if (!c || !cidrContains(c, ip)) continue;
          const prefix = cidrParts(c).prefix;
          if (!best || prefix > best.prefix) best = { prefix, nomatch: flag === 'nomatch' };
        }
        return best !== undefined && !best.nomatch;
      }
      default:
        throw new UnknownRule(`set type ${s.type}`);
    }
  };

  const parseMark = (text: string): [number, number] => {
    const [v = '', m] = text.split('/');
    return [Number(v), m === undefined ? 0xffffffff : Number(m)];
  };

  /** Whether every match of a rule holds; returns the target words. */
  const ruleMatches = (words: string[]): { ok: boolean; target: string[] } => {
    let i = 0;
    let ok = true;
    let negate = false;
    let module = '';
    const take = (): string => {
      const w = words[++i];
      if (w === undefined) throw new UnknownRule(words.join(' '));
      return w;
    };
    while (i < words.length) {
      const w = words[i] as string;
      if (w === '-j' || w === '-g') return { ok, target: words.slice(i) };
      if (w === '!') {
        negate = true;
        i++;
        continue;
      }
      let r: boolean | undefined;
      switch (w) {
        case '-s':
        case '-d': {
          const c = tryParseCIDR(take());
          if (!c) throw new UnknownRule(words.join(' '));
          r = cidrContains(c, w === '-s' ? src : dst);
          break;
        }
        case '-p':
          r = take() === (p.protocol === 'icmp' && family === 6 ? 'ipv6-icmp' : p.protocol);
          break;
        case '-m':
          module = take();
          if (!['tcp', 'udp', 'sctp', 'icmp', 'icmp6', 'conntrack', 'set', 'mark', 'addrtype', 'limit', 'comment'].includes(module)) throw new UnknownRule(`module ${module}`);
          break;
        case '--dport': {
          if (!['tcp', 'udp', 'sctp'].includes(module)) throw new UnknownRule(words.join(' '));
          const [a = '', b] = take().split(':');
          r = p.dport !== undefined && p.dport >= Number(a) && p.dport <= Number(b ?? a);
          break;
        }
        case '--icmp-type':
        case '--icmpv6-type':
          r = p.icmpType === Number(take());
          break;
        case '--ctstate':
          r = take().split(',').includes(p.state ?? 'NEW');
          break;
        case '--match-set': {
          const name = take();
          r = inSet(name, take());
          break;
        }
        case '--mark': {
          const [v, m] = parseMark(take());
          r = (mark & m) === v;
          break;
        }
        case '--src-type':
        case '--dst-type': {
          if (take() !== 'LOCAL') throw new UnknownRule(words.join(' '));
          r = local.has(w === '--src-type' ? src : dst);
          break;
        }
        case '--limit':
        case '--limit-burst':
        case '--comment':
          take();
          break;
        default:
          throw new UnknownRule(`unknown match word ${w} in: ${words.join(' ')}`);
      }
      if (r !== undefined) {
        if (negate) r = !r;
        if (!r) ok = false;
        negate = false;
      }
      i++;
    }
    return { ok, target: [] };
  };

  type Outcome = { kind: 'verdict'; action: FilterVerdict['action'] } | { kind: 'return' };
  const run = (chain: string, depth: number): Outcome => {
    if (depth > 32) throw new UnknownRule('chain depth over 32 (a loop?)');
    const rules = ipt.rules('filter', chain);
    if (rules === undefined) throw new UnknownRule(`chain ${chain} does not exist`);
    for (const rule of rules) {
      const words = splitRuleWords(rule);
      const { ok, target } = ruleMatches(words);
      if (!ok) continue;
      matched.push(`${chain}: ${rule}`);
      const [kind, t = '', ...args] = target;
      if (kind === undefined) continue;
      switch (t) {
        case 'ACCEPT':
          return { kind: 'verdict', action: 'accept' };
        case 'DROP':
          return { kind: 'verdict', action: 'drop' };
        case 'REJECT':
          return { kind: 'verdict', action: 'reject' };
        case 'RETURN':
          return { kind: 'return' };
        case 'NFLOG':
          logged = true;
          continue;
        case 'MARK': {
          if (args[0] !== '--set-xmark') throw new UnknownRule(rule);
          const [v, m] = parseMark(args[1] ?? '');
          mark = (mark & ~m) ^ v;
          continue;
        }
        default: {
          const out = run(t, depth + 1);
          if (out.kind === 'verdict') return out;
          // -g: returning from the chain gone to returns from this one as well.
          if (kind === '-g') return { kind: 'return' };
        }
      }
    }
    return { kind: 'return' };
  };

  const out = run(startChain ?? p.hook, 0);
  return { action: out.kind === 'verdict' ? out.action : 'accept', logged, matched };
}
