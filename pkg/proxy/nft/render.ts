import type { Family } from '../../util/ip.js';
import type { RenderContext, RenderOptions } from '../backend.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import { affinitySet, CANARY, COUNTER_SETS, handlerMap, forEachFrontendElement, frontendElements, handlerChain, handlerOf, MASQ_MARK, pickExpr, SETS, SHARED_SETS, TABLE, words, type Handler } from './layout.js';

/** What is in the kernel after a successful apply; the base of the next delta. */
export interface AppliedState {
  readonly family: Family;
  readonly frontends: Map<string, Frontend>;
  /** Elements of SHARED_SETS (`set\telement`) → how many frontends (or pod CIDR entries) want them. */
  readonly refs: Map<string, number>;
  /** Handler chains (each with its endpoint map) present, with how many frontends jump to each. */
  readonly handlers: Map<string, number>;
  /** `aff-fe-N` sets present, with how many frontends are in each. */
  readonly affinityTimeouts: Map<number, number>;
}

const CHUNK = 2000;

function elementLines(verb: 'add' | 'delete', fam: string, set: string, elems: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elems.length; i += CHUNK) out.push(`${verb} element ${fam} ${TABLE} ${set} { ${elems.slice(i, i + CHUNK).join(', ')} }`);
  return out;
}

/** The key's last field is typed by a `numgen` of the same range whatever the pick (both are 32-bit integers). */
function mapDecl(family: Family, h: Handler): string {
  const w = words(family);
  return `add map ${w.nftFamily} ${TABLE} ${handlerMap(h)} { typeof ${w.addr} daddr . meta l4proto . th dport . numgen random mod ${h.n} : ${w.addr} daddr . th dport ; }`;
}

function handlerDecl(family: Family, h: Handler, opts: RenderOptions): string[] {
  const w = words(family);
  const t = `${w.nftFamily} ${TABLE}`;
  const c = handlerChain(h);
  const lines = [mapDecl(family, h), `add chain ${t} ${c}`];
  if (h.masq) lines.push(opts.masqueradeAll ? `add rule ${t} ${c} meta mark set meta mark | ${MASQ_MARK}` : `add rule ${t} ${c} ${w.addr} saddr != @${SETS.podCidrs} meta mark set meta mark | ${MASQ_MARK}`);
  if (h.affinity) lines.push(`add rule ${t} ${c} ${w.addr} saddr . ${w.addr} daddr . meta l4proto . th dport @${SETS.affinity} dnat ${w.addr} to ${w.addr} saddr . ${w.addr} daddr . meta l4proto . th dport map @${SETS.affinity}`);
  lines.push(`add rule ${t} ${c} dnat ${w.addr} to ${w.addr} daddr . meta l4proto . th dport . ${pickExpr(family, h)} map @${handlerMap(h)}`);
  return lines;
}

function affinitySetDecl(family: Family, seconds: number): string {
  const w = words(family);
  return `add set ${w.nftFamily} ${TABLE} ${affinitySet(seconds)} { type ${w.addrType} . inet_proto . inet_service ; }`;
}

const AFFINITY_CHAINS = ['affinity-prerouting', 'affinity-output'] as const;

/**
 * The affinity hooks and their rules for every timeout in use, in order. They exist only while some
 * service uses affinity: a base chain costs every packet.
 */
function affinityChains(family: Family, timeouts: readonly number[]): string[] {
  const w = words(family);
  const t = `${w.nftFamily} ${TABLE}`;
  const lines = [
    `add chain ${t} affinity-prerouting { type filter hook prerouting priority -99 ; policy accept ; }`,
    `add chain ${t} affinity-output { type filter hook output priority -99 ; policy accept ; }`,
  ];
  // `ct original proto-dst` needs the protocol known, hence one rule per protocol.
  for (const chain of AFFINITY_CHAINS) {
    for (const seconds of timeouts) {
      for (const p of ['tcp', 'udp', 'sctp']) {
        lines.push(
          `add rule ${t} ${chain} ct state new meta l4proto ${p} ct original ${w.addr} daddr . meta l4proto . ct original proto-dst @${affinitySet(seconds)} update @${SETS.affinity} { ct original ${w.addr} saddr . ct original ${w.addr} daddr . meta l4proto . ct original proto-dst timeout ${seconds}s : ${w.addr} daddr . th dport }`,
        );
      }
    }
  }
  return lines;
}

/** Counts how many frontends use each handler chain (with its map) and affinity set. */
function countUses(frontends: Iterable<Frontend>, masqueradeAll: boolean): { handlers: Map<string, number>; specs: Map<string, Handler>; affinity: Map<number, number> } {
  const handlers = new Map<string, number>();
  const specs = new Map<string, Handler>();
  const affinity = new Map<number, number>();
  for (const f of frontends) {
    const h = handlerOf(f, masqueradeAll);
    if (h) {
      const name = handlerChain(h);
      specs.set(name, h);
      handlers.set(name, (handlers.get(name) ?? 0) + 1);
    }
    if (f.affinitySeconds !== undefined) affinity.set(f.affinitySeconds, (affinity.get(f.affinitySeconds) ?? 0) + 1);
  }
  return { handlers, specs, affinity };
}

const byNumber = (a: number, b: number): number => a - b;

/**
 * The table's fixed part. Sets and maps that the daemon fills carry no `size`: with one, the kernel
 * picks its fixed-size hash and allocates every bucket for that size up front (about 16 MiB a set at
 * a million), which cost a cold sync of 10,000 services more time in the kernel than its 100,000
 * elements did. Without one it picks the resizable hash, which grows with its elements and has no
 * limit. Only the affinity map, which packets fill, keeps a size as its bound.
 */
function skeleton(family: Family, opts: RenderOptions): string[] {
  const w = words(family);
  const t = `${w.nftFamily} ${TABLE}`;
  const lines = [
    `add table ${t}`,
    `add chain ${t} nat-prerouting { type nat hook prerouting priority dstnat ; policy accept ; }`,
    `add chain ${t} nat-output { type nat hook output priority -100 ; policy accept ; }`,
    `add chain ${t} nat-postrouting { type nat hook postrouting priority srcnat ; policy accept ; }`,
    `add chain ${t} filter-input { type filter hook input priority -1 ; policy accept ; }`,
    `add chain ${t} filter-forward { type filter hook forward priority -1 ; policy accept ; }`,
    `add chain ${t} filter-output { type filter hook output priority -1 ; policy accept ; }`,
    `add chain ${t} services`,
    `add chain ${t} reject-unserved`,
    `add set ${t} ${CANARY} { type inet_service ; }`,
    `add element ${t} ${CANARY} { 1 }`,
    `add set ${t} ${SETS.podCidrs} { type ${w.addrType} ; flags interval ; }`,
    `add map ${t} ${SETS.dispatch} { type ${w.addrType} . inet_proto . inet_service : verdict ; }`,
    `add set ${t} ${SETS.noEndpoints} { type ${w.addrType} . inet_proto . inet_service ; }`,
    `add set ${t} ${SETS.serviceIPs} { type ${w.addrType} ; }`,
    `add set ${t} ${SETS.hairpin} { type ${w.addrType} . ${w.addrType} ; }`,
    `add map ${t} ${SETS.affinity} { type ${w.addrType} . ${w.addrType} . inet_proto . inet_service : ${w.addrType} . inet_service ; flags dynamic,timeout ; timeout 3h ; size 1048576 ; }`,
    `add rule ${t} nat-prerouting jump services`,
    `add rule ${t} nat-output jump services`,
    `add rule ${t} services ${w.addr} daddr . meta l4proto . th dport vmap @${SETS.dispatch}`,
    `add rule ${t} nat-postrouting meta mark & ${MASQ_MARK} == ${MASQ_MARK} meta mark set meta mark & ${(~MASQ_MARK >>> 0).toString()} masquerade fully-random`,
    `add rule ${t} nat-postrouting ${w.addr} saddr . ${w.addr} daddr @${SETS.hairpin} masquerade fully-random`,
    `add rule ${t} reject-unserved ${w.addr} daddr . meta l4proto . th dport @${SETS.noEndpoints} reject`,
  ];
  if (opts.rejectUnserved) lines.push(`add rule ${t} reject-unserved ${w.addr} daddr @${SETS.serviceIPs} reject`);
  for (const c of ['filter-input', 'filter-forward', 'filter-output']) lines.push(`add rule ${t} ${c} ct state new jump reject-unserved`);
  if (opts.serviceCounters) lines.push(...counterSkeleton(family));
  return lines;
}

/**
 * Per-frontend counters: requests are counted before DNAT (prerouting, output: the destination is
 * still the frontend), replies after the reverse translation (postrouting, input: the source is the
 * frontend again), new connections with the requests. One map lookup per packet and hook.
 */
function counterSkeleton(family: Family): string[] {
  const w = words(family);
  const t = `${w.nftFamily} ${TABLE}`;
  const fe = `${w.addr} daddr . meta l4proto . th dport`;
  const reply = `${w.addr} saddr . meta l4proto . th sport`;
  return [
    ...Object.values(COUNTER_SETS).map((m) => `add set ${t} ${m} { type ${w.addrType} . inet_proto . inet_service ; counter ; }`),
    `add chain ${t} count-prerouting { type filter hook prerouting priority -110 ; policy accept ; }`,
    `add chain ${t} count-output { type filter hook output priority -110 ; policy accept ; }`,
    `add chain ${t} count-postrouting { type filter hook postrouting priority 110 ; policy accept ; }`,
    `add chain ${t} count-input { type filter hook input priority 110 ; policy accept ; }`,
    ...['count-prerouting', 'count-output'].flatMap((c) => [`add rule ${t} ${c} ct direction original ${fe} @${COUNTER_SETS.in}`, `add rule ${t} ${c} ct state new ${fe} @${COUNTER_SETS.new}`]),
    ...['count-postrouting', 'count-input'].map((c) => `add rule ${t} ${c} ct direction reply ${reply} @${COUNTER_SETS.out}`),
  ];
}

function groupBySet(entries: Iterable<string>): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const e of entries) {
    const tab = e.indexOf('\t');
    const set = e.slice(0, tab);
    let l = by.get(set);
    if (!l) {
      l = [];
      by.set(set, l);
    }
    l.push(e.slice(tab + 1));
  }
  return by;
}

/**
 * Pure: one transaction that (re)creates the whole table from the model: `add table; delete table;`
 * then everything, so a table someone else changed is replaced atomically.
 */
export function renderFull(model: FamilyModel, ctx: RenderContext): { script: string; state: AppliedState } {
  const w = words(model.family);
  const t = `${w.nftFamily} ${TABLE}`;
  const refs = new Map<string, number>();
  const bySet = new Map<string, string[]>();
  const emit = (set: string, e: string): void => {
    if (SHARED_SETS.has(set)) {
      const k = `${set}\t${e}`;
      const n = refs.get(k) ?? 0;
      refs.set(k, n + 1);
      if (n > 0) return;
    }
    let l = bySet.get(set);
    if (!l) {
      l = [];
      bySet.set(set, l);
    }
    l.push(e);
  };
  for (const [key, f] of model.frontends) forEachFrontendElement(key, f, ctx.opts.masqueradeAll, ctx.isLocal, emit, ctx.opts.serviceCounters === true);
  for (const c of model.podCIDRs) emit(SETS.podCidrs, c);
  const uses = countUses(model.frontends.values(), ctx.opts.masqueradeAll);
  const lines = [`add table ${t}`, `delete table ${t}`, ...skeleton(model.family, ctx.opts)];
  for (const name of [...uses.specs.keys()].sort()) lines.push(...handlerDecl(model.family, uses.specs.get(name) as Handler, ctx.opts));
  const timeouts = [...uses.affinity.keys()].sort(byNumber);
  for (const s of timeouts) lines.push(affinitySetDecl(model.family, s));
  if (timeouts.length > 0) lines.push(...affinityChains(model.family, timeouts));
  for (const set of [...bySet.keys()].sort()) lines.push(...elementLines('add', w.nftFamily, set, (bySet.get(set) as string[]).sort()));
  return { script: lines.join('\n') + '\n', state: { family: model.family, frontends: new Map(model.frontends), refs, handlers: uses.handlers, affinityTimeouts: uses.affinity } };
}

export interface DeltaPlan {
  readonly script: string;
  /** Number of element additions and deletions in the script. */
  readonly writes: number;
  /** Apply to the state once the script has committed. */
  commit(state: AppliedState): void;
}

/**
 * Pure: the element changes that take the kernel from `state` to the model, looking only at the
 * frontend keys in `changed` (and the pod CIDRs). Empty script when nothing differs.
 */
export function renderDelta(state: AppliedState, model: FamilyModel, changed: Iterable<string>, ctx: RenderContext): DeltaPlan {
  const w = words(model.family);
  const diff = new Map<string, number>(); // shared element → change in reference count
  const uniqueDiff = new Map<string, number>(); // an element of one frontend: -1 gone, +1 new, 0 kept
  const touch = (e: string, d: number): void => {
    const m = SHARED_SETS.has(e.slice(0, e.indexOf('\t'))) ? diff : uniqueDiff;
    m.set(e, (m.get(e) ?? 0) + d);
  };
  const frontendUpdates = new Map<string, Frontend | undefined>();
  for (const key of new Set(changed)) {
    const prev = state.frontends.get(key);
    const next = model.frontends.get(key);
    if (prev === next) continue;
    if (prev) for (const e of frontendElements(key, prev, ctx.opts.masqueradeAll, ctx.isLocal, ctx.opts.serviceCounters === true)) touch(e, -1);
    if (next) for (const e of frontendElements(key, next, ctx.opts.masqueradeAll, ctx.isLocal, ctx.opts.serviceCounters === true)) touch(e, +1);
    frontendUpdates.set(key, next);
  }
  const wantCidrs = new Set(model.podCIDRs.map((c) => `${SETS.podCidrs}\t${c}`));
  for (const e of state.refs.keys()) if (e.startsWith(`${SETS.podCidrs}\t`) && !wantCidrs.has(e)) touch(e, -1);
  for (const e of wantCidrs) if (!state.refs.has(e)) touch(e, +1);

  const dels: string[] = [];
  const adds: string[] = [];
  for (const [e, d] of uniqueDiff) {
    if (d < 0) dels.push(e);
    else if (d > 0) adds.push(e);
  }
  const newRefs = new Map<string, number>();
  for (const [e, d] of diff) {
    if (d === 0) continue;
    const before = state.refs.get(e) ?? 0;
    const after = before + d;
    newRefs.set(e, after);
    if (before > 0 && after <= 0) dels.push(e);
    else if (before <= 0 && after > 0) adds.push(e);
  }
  // Handler chains with their maps, and affinity sets: created when a frontend first needs them, deleted when
  // the last one stops (reference counts), so the table always equals a from-scratch render.
  const before = countUses([...frontendUpdates.keys()].flatMap((k) => { const f = state.frontends.get(k); return f ? [f] : []; }), ctx.opts.masqueradeAll);
  const after = countUses([...frontendUpdates.values()].flatMap((f) => (f ? [f] : [])), ctx.opts.masqueradeAll);
  const shift = <K>(have: ReadonlyMap<K, number>, minus: ReadonlyMap<K, number>, plus: ReadonlyMap<K, number>): { next: Map<K, number>; born: K[]; gone: K[] } => {
    const next = new Map(have);
    for (const [k, n] of minus) next.set(k, (next.get(k) ?? 0) - n);
    for (const [k, n] of plus) next.set(k, (next.get(k) ?? 0) + n);
    const born: K[] = [];
    const gone: K[] = [];
    for (const [k, n] of next) {
      const was = (have.get(k) ?? 0) > 0;
      if (n > 0 && !was) born.push(k);
      if (n <= 0) {
        next.delete(k);
        if (was) gone.push(k);
      }
    }
    return { next, born, gone };
  };
  const handlers = shift(state.handlers, before.handlers, after.handlers);
  const affinity = shift(state.affinityTimeouts, before.affinity, after.affinity);
  const t = `${w.nftFamily} ${TABLE}`;
  const lines: string[] = [];
  for (const name of [...handlers.born].sort()) lines.push(...handlerDecl(model.family, after.specs.get(name) as Handler, ctx.opts));
  for (const x of [...affinity.born].sort(byNumber)) lines.push(affinitySetDecl(model.family, x));
  // A map key whose value changes is deleted and re-added (the kernel refuses a second value).
  const delBy = groupBySet(dels);
  for (const set of [...delBy.keys()].sort()) {
    const keys = (delBy.get(set) as string[]).map((e) => (set.startsWith('ep-') || set === SETS.dispatch ? (e.split(' : ')[0] as string) : e)).sort();
    lines.push(...elementLines('delete', w.nftFamily, set, keys));
  }
  const addBy = groupBySet(adds);
  for (const set of [...addBy.keys()].sort()) lines.push(...elementLines('add', w.nftFamily, set, (addBy.get(set) as string[]).sort()));
  // The affinity hooks are rewritten whole when the timeouts in use change (flush and re-add, one transaction).
  if (affinity.born.length + affinity.gone.length > 0) {
    const timeouts = [...affinity.next.keys()].sort(byNumber);
    if (state.affinityTimeouts.size > 0) for (const c of AFFINITY_CHAINS) lines.push(`flush chain ${t} ${c}`);
    if (timeouts.length > 0) lines.push(...affinityChains(model.family, timeouts));
    else for (const c of AFFINITY_CHAINS) lines.push(`delete chain ${t} ${c}`);
  }
  // Objects nobody uses any more go last, once nothing refers to them.
  for (const name of [...handlers.gone].sort()) lines.push(`flush chain ${t} ${name}`, `delete chain ${t} ${name}`, `delete map ${t} ep-${name.slice('svc-'.length)}`);
  for (const x of [...affinity.gone].sort(byNumber)) lines.push(`delete set ${t} ${affinitySet(x)}`);
  return {
    script: lines.length ? lines.join('\n') + '\n' : '',
    writes: dels.length + adds.length,
    commit(s: AppliedState) {
      for (const [e, n] of newRefs) {
        if (n > 0) s.refs.set(e, n);
        else s.refs.delete(e);
      }
      for (const [k, f] of frontendUpdates) {
        if (f) s.frontends.set(k, f);
        else s.frontends.delete(k);
      }
      replace(s.handlers, handlers.next);
      replace(s.affinityTimeouts, affinity.next);
    },
  };
}

function replace<K>(target: Map<K, number>, source: ReadonlyMap<K, number>): void {
  target.clear();
  for (const [k, v] of source) target.set(k, v);
}
