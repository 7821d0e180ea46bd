import type { FakeNftables } from '../../linux/nftables/fake.js';
import { cidrContains, familyOf, tryParseCIDR, tryParseIP, bitsOf, type IP } from '../../util/ip.js';
import type { FilterPacket, FilterVerdict } from '../evaluate.js';
import { NETPOL_TABLE, nftFamily } from './render.js';

class UnknownRule extends Error {}

const HOOKS = { INPUT: 'input', FORWARD: 'forward', OUTPUT: 'output' } as const;

/**
 * Walks our netpol table in a FakeNftables for one packet, the way nftables would: the base chain
 * of the hook, jump/goto/return, the packet mark, set lookups (interval sets by prefix). Knows exactly
 * the rule vocabulary our renderer emits and throws on anything else, so a new rule shape cannot slip
 * by untested. No table: the packet is accepted (nothing of ours judges it).
 */
export function evaluateNftFilter(nft: FakeNftables, p: FilterPacket): FilterVerdict {
  const src = tryParseIP(p.src) as IP;
  const dst = tryParseIP(p.dst) as IP;
  const family = familyOf(src);
  const table = nft.tables.get(`${nftFamily(family)} ${NETPOL_TABLE}`);
  const matched: string[] = [];
  if (!table) return { action: 'accept', logged: false, matched };
  const local = new Set((p.localAddresses ?? []).map((a) => tryParseIP(a)));
  let mark = 0;
  let logged = false;

  const lookup = (name: string, key: string | IP): boolean => {
    const s = table.sets.get(name);
    if (!s) throw new UnknownRule(`set ${name} does not exist`);
    if (s.elements.has(key)) return true;
    if (key.includes(' . ')) return false;
    // Interval sets hold prefixes.
    for (const e of s.elements) {
      if (!e.includes('/')) continue;
      const c = tryParseCIDR(e);
      if (c && cidrContains(c, key as IP)) return true;
    }
    return false;
  };

  const ruleMatches = (w: string[]): { ok: boolean; verdict: string[] } => {
    let i = 0;
    let ok = true;
    const take = (): string => {
      const x = w[++i];
      if (x === undefined) throw new UnknownRule(w.join(' '));
      return x;
    };
    while (i < w.length) {
      const x = w[i] as string;
      if (['return', 'jump', 'goto', 'accept', 'drop', 'reject', 'log', 'counter'].includes(x) || (x === 'meta' && w[i + 1] === 'mark' && w[i + 2] === 'set')) return { ok, verdict: w.slice(i) };
      let r: boolean | undefined;
      if (x === 'ct') {
        if (take() !== 'state') throw new UnknownRule(w.join(' '));
        r = take().split(',').includes((p.state ?? 'NEW').toLowerCase());
      } else if (x === 'ip' || x === 'ip6') {
        if ((x === 'ip') !== (family === 4)) throw new UnknownRule(`${x} in the IPv${family} table`);
        const dir = take();
        const addr = dir === 'saddr' ? src : dst;
        if (w[i + 1] === '.') {
          // ip daddr . meta l4proto . th dport @set
          const tail = w.slice(i + 1, i + 8).join(' ');
          if (dir !== 'daddr' || tail.slice(0, tail.lastIndexOf(' ')) !== '. meta l4proto . th dport') throw new UnknownRule(w.join(' '));
          const set = w[i + 7] ?? '';
          i += 7;
          r = p.dport !== undefined && set.startsWith('@') && lookup(set.slice(1), `${addr} . ${p.protocol} . ${p.dport}`);
        } else {
          let v = take();
          if (v === 'vmap') {
            // ip daddr vmap @map: the element's verdict, as if it were this rule's.
            const name = take().replace(/^@/, '');
            const map = table.sets.get(name);
            if (!map || map.kind !== 'map') throw new UnknownRule(`map ${name} does not exist`);
            const hit = [...map.elements].find((e) => e.split(' : ')[0] === addr);
            if (hit === undefined) return { ok: false, verdict: [] };
            return { ok, verdict: (hit.split(' : ')[1] ?? '').split(' ') };
          }
          let neg = false;
          if (v === '!=') {
            neg = true;
            v = take();
          }
          if (v.startsWith('@')) r = lookup(v.slice(1), addr);
          else {
            const c = tryParseCIDR(v.includes('/') ? v : `${v}/${bitsOf(family)}`);
            if (!c) throw new UnknownRule(w.join(' '));
            r = cidrContains(c, addr);
          }
          if (neg) r = !r;
        }
      } else if (x === 'fib') {
        const dir = take();
        if (take() !== 'type') throw new UnknownRule(w.join(' '));
        let v = take();
        const neg = v === '!=';
        if (neg) v = take();
        if (v !== 'local') throw new UnknownRule(w.join(' '));
        r = local.has(dir === 'saddr' ? src : dst) !== neg;
      } else if (x === 'meta') {
        const what = take();
        if (what === 'mark') {
          if (take() !== '&') throw new UnknownRule(w.join(' '));
          const bits = Number(take());
          const op = take();
          const v = Number(take());
          r = op === '==' ? (mark & bits) === v : (mark & bits) !== v;
        } else if (what === 'l4proto') {
          r = take() === (p.protocol === 'icmp' ? (family === 4 ? 'icmp' : 'ipv6-icmp') : p.protocol);
          if (w[i + 1] === 'th' && w[i + 2] === 'dport') {
            i += 2;
            const [a = '', b] = take().split('-');
            const inRange = p.dport !== undefined && p.dport >= Number(a) && p.dport <= Number(b ?? a);
            r = r && inRange;
          }
        } else throw new UnknownRule(w.join(' '));
      } else if (x === 'icmp' || x === 'icmpv6') {
        if (take() !== 'type') throw new UnknownRule(w.join(' '));
        const type = Number(take());
        r = p.protocol === 'icmp' && (x === 'icmp') === (family === 4) && p.icmpType === type;
      } else if (x === 'limit') {
        // limit rate N/minute burst N packets: the evaluator never runs out.
        if (take() !== 'rate') throw new UnknownRule(w.join(' '));
        take();
        if (w[i + 1] === 'burst') i += 3;
      } else throw new UnknownRule(`unknown word ${x} in: ${w.join(' ')}`);
      if (r === false) ok = false;
      i++;
    }
    return { ok, verdict: [] };
  };

  type Outcome = { kind: 'verdict'; action: FilterVerdict['action'] } | { kind: 'return' };
  const run = (chain: string, depth: number): Outcome => {
    if (depth > 32) throw new UnknownRule('chain depth over 32 (a loop?)');
    const c = table.chains.get(chain);
    if (!c) throw new UnknownRule(`chain ${chain} does not exist`);
    for (const rule of c.rules) {
      const words = (rule.match(/"[^"]*"|\S+/g) ?? []) as string[];
      const { ok, verdict } = ruleMatches(words);
      if (!ok) continue;
      matched.push(`${chain}: ${rule}`);
      const [v, t = ''] = verdict;
      switch (v) {
        case undefined:
          continue;
        case 'accept':
          return { kind: 'verdict', action: 'accept' };
        case 'drop':
          return { kind: 'verdict', action: 'drop' };
        case 'reject':
          return { kind: 'verdict', action: 'reject' };
        case 'return':
          return { kind: 'return' };
        case 'counter':
          if (verdict[1] === 'log') logged = true;
          else if (verdict.length > 1) throw new UnknownRule(rule);
          continue;
        case 'log':
          logged = true;
          continue;
        case 'meta': {
          // meta mark set meta mark & KEEP [| VALUE]
          const keep = Number(verdict[6]);
          const value = verdict[7] === '|' ? Number(verdict[8]) : 0;
          if (verdict[5] !== '&' || Number.isNaN(keep)) throw new UnknownRule(rule);
          mark = ((mark & keep) | value) >>> 0;
          continue;
        }
        case 'jump':
        case 'goto': {
          const out = run(t, depth + 1);
          if (out.kind === 'verdict') return out;
          if (v === 'goto') return { kind: 'return' };
          continue;
        }
        default:
          throw new UnknownRule(rule);
      }
    }
    return { kind: 'return' };
  };

  const base = HOOKS[p.hook];
  const out = table.chains.has(base) ? run(base, 0) : { kind: 'return' as const };
  return { action: out.kind === 'verdict' ? out.action : 'accept', logged, matched };
}
