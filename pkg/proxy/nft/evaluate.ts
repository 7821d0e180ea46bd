import type { FakeNftables } from '../../linux/nftables/fake.js';
import { cidrContains, parseCIDR, tryParseIP, type Family, type IP } from '../../util/ip.js';
import { HASH_SEED, MASQ_MARK, SETS, TABLE, words, type PickMethod } from './layout.js';

export interface Packet {
  readonly family: Family;
  readonly src: string;
  readonly dst: string;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly dport: number;
  /** prerouting: arrives from outside or from a pod; output: sent by a process on the node. */
  readonly hook: 'prerouting' | 'output';
}

export interface Verdict {
  /** dnat: goes to one of `backends`; reject: refused; pass: not a service packet. */
  readonly action: 'dnat' | 'reject' | 'pass';
  /** Every backend the load balancer may pick (`ip:port`), or the affinity-pinned one. */
  readonly backends: readonly string[];
  /** Backends for which the source is rewritten (masquerade or hairpin SNAT). */
  readonly masqueradedFor: readonly string[];
  /** The rules that matched, in order, for failure messages. */
  readonly matched: readonly string[];
  /** How the backend is picked among `backends` (dnat through a handler chain). */
  readonly pick?: PickMethod;
}

/**
 * Walks the proxy's table in a FakeNftables for one packet, the way the kernel would: nat
 * (prerouting or output) → services, then the filter hooks for packets not translated, then
 * postrouting. Throws on a rule shape it does not know, so a new shape cannot slip by untested.
 */
/** `198.18.1.2 . 80` → `198.18.1.2:80`; IPv6 as `[2001:db8::1]:80`. */
function hostPort(el: string): string {
  const [ip = '', port = ''] = el.split(' . ');
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function hostOf(hp: string): string {
  return hp.startsWith('[') ? hp.slice(1, hp.indexOf(']')) : hp.slice(0, hp.lastIndexOf(':'));
}

export function evaluate(nft: FakeNftables, p: Packet): Verdict {
  const w = words(p.family);
  const fam = w.nftFamily;
  const rules = (chain: string): readonly string[] => nft.rules(fam, TABLE, chain) ?? [];
  const set = (name: string): string[] => [...(nft.tables.get(`${fam} ${TABLE}`)?.sets.get(name)?.elements ?? [])];
  const inSet = (name: string, el: string): boolean => set(name).includes(el);
  const src = tryParseIP(p.src) as IP;
  const key = `${tryParseIP(p.dst) ?? p.dst} . ${p.protocol} . ${p.dport}`;
  const matched: string[] = [];
  let mark = 0;
  let backends: string[] | undefined;
  let pick: PickMethod | undefined;

  const natChain = p.hook === 'prerouting' ? 'nat-prerouting' : 'nat-output';
  const fromPod = (): boolean => set(SETS.podCidrs).some((c) => cidrContains(parseCIDR(c), src));
  /** A handler chain: optional mark, optional affinity lookup, then the random pick. */
  const handler = (chain: string): void => {
    for (const r of rules(chain)) {
      let m: RegExpExecArray | null;
      if ((m = new RegExp(`^${w.addr} saddr != @${SETS.podCidrs} meta mark set meta mark \\| (\\d+)$`).exec(r))) {
        if (!fromPod()) {
          mark |= Number(m[1]);
          matched.push(r);
        }
      } else if ((m = /^meta mark set meta mark \| (\d+)$/.exec(r))) {
        mark |= Number(m[1]);
        matched.push(r);
      } else if (r === `${w.addr} saddr . ${w.addr} daddr . meta l4proto . th dport @${SETS.affinity} dnat ${w.addr} to ${w.addr} saddr . ${w.addr} daddr . meta l4proto . th dport map @${SETS.affinity}`) {
        const hit = set(SETS.affinity).find((e) => e.startsWith(`${src} . ${key} : `));
        if (hit) {
          backends = [hostPort(hit.split(' : ')[1] as string)];
          matched.push(r);
          return;
        }
      } else if ((m = new RegExp(`^dnat ${w.addr} to ${w.addr} daddr \\. meta l4proto \\. th dport \\. (numgen random|jhash ${w.addr} saddr|jhash ${w.addr} saddr \\. th sport|jhash ${w.addr} daddr) mod (\\d+)(?: seed ${HASH_SEED})? map @(ep-(\\d+)(?:-m)?(?:-a)?(-hs|-hsp|-hd)?)$`).exec(r))) {
        const n = Number(m[2]);
        const pickSuffix = { 'numgen random': undefined, [`jhash ${w.addr} saddr`]: '-hs', [`jhash ${w.addr} saddr . th sport`]: '-hsp', [`jhash ${w.addr} daddr`]: '-hd' }[m[1] as string];
        if (m[4] !== m[2] || m[3] !== `ep-${chain.slice('svc-'.length)}` || m[5] !== pickSuffix) throw new Error(`evaluator: handler ${chain} uses another handler's map or pick: ${r}`);
        pick = m[1] === 'numgen random' ? 'random' : m[1] === `jhash ${w.addr} daddr` ? 'dst' : m[1]?.endsWith('sport') ? 'src-port' : 'src';
        const eps = set(m[3]);
        backends = [];
        for (let i = 0; i < n; i++) {
          const e = eps.find((x) => x.startsWith(`${key} . ${i} : `));
          if (!e) throw new Error(`evaluator: ${key} dispatches to ${chain} but ${m[3]} has no index ${i}`);
          backends.push(hostPort(e.split(' : ')[1] as string));
        }
        matched.push(r);
        return;
      } else throw new Error(`evaluator: unknown rule in ${chain}: ${r}`);
    }
    throw new Error(`evaluator: handler chain ${chain} ended without a verdict`);
  };
  for (const r of rules(natChain)) {
    if (r !== 'jump services') throw new Error(`evaluator: unknown rule in ${natChain}: ${r}`);
    for (const s of rules('services')) {
      if (s === `${w.addr} daddr . meta l4proto . th dport vmap @${SETS.dispatch}`) {
        const hit = set(SETS.dispatch).find((e) => e.startsWith(`${key} : `));
        if (!hit) continue;
        matched.push(s);
        const verdict = hit.split(' : ')[1] as string;
        const g = /^goto ([\w-]+)$/.exec(verdict);
        if (!g) throw new Error(`evaluator: unknown dispatch verdict ${verdict}`);
        handler(g[1] as string);
        break;
      } else throw new Error(`evaluator: unknown rule in services: ${s}`);
    }
  }

  if (backends === undefined) {
    for (const r of rules('reject-unserved')) {
      let m: RegExpExecArray | null;
      if ((m = new RegExp(`^${w.addr} daddr \\. meta l4proto \\. th dport @([\\w-]+) reject$`).exec(r))) {
        if (inSet(m[1] as string, key)) return { action: 'reject', backends: [], masqueradedFor: [], matched: [...matched, r] };
      } else if ((m = new RegExp(`^${w.addr} daddr @([\\w-]+) reject$`).exec(r))) {
        if (inSet(m[1] as string, tryParseIP(p.dst) ?? p.dst)) return { action: 'reject', backends: [], masqueradedFor: [], matched: [...matched, r] };
      } else throw new Error(`evaluator: unknown rule in reject-unserved: ${r}`);
    }
    return { action: 'pass', backends: [], masqueradedFor: [], matched };
  }

  const masqueradedFor: string[] = [];
  for (const b of backends) {
    const bip = hostOf(b);
    let masq = false;
    for (const r of rules('nat-postrouting')) {
      if (r === `meta mark & ${MASQ_MARK} == ${MASQ_MARK} meta mark set meta mark & ${(~MASQ_MARK >>> 0).toString()} masquerade fully-random`) {
        if ((mark & MASQ_MARK) !== 0) masq = true;
      } else if (r === `${w.addr} saddr . ${w.addr} daddr @${SETS.hairpin} masquerade fully-random`) {
        if (inSet(SETS.hairpin, `${src} . ${bip}`)) masq = true;
      } else throw new Error(`evaluator: unknown rule in nat-postrouting: ${r}`);
      if (masq) break;
    }
    if (masq) masqueradedFor.push(b);
  }
  return { action: 'dnat', backends, masqueradedFor, matched, ...(pick ? { pick } : {}) };
}
