import type { Family } from '../../util/ip.js';
import type { RenderContext, RenderOptions } from '../backend.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import { affinitySet, CANARY, classMap, forEachFrontendElement, frontendElements, handlerChain, handlerOf, MASQ_MARK, SETS, SHARED_SETS, TABLE, words, type Handler } from './layout.js';

/** What is in the kernel after a successful apply; the base of the next delta. */
export interface AppliedState {
  readonly family: Family;
  readonly frontends: Map<string, Frontend>;
  /** Elements of SHARED_SETS (`set\telement`) → how many frontends (or pod CIDR entries) want them. */
  readonly refs: Map<string, number>;
  /** `ep-N` maps present. */
  readonly classes: Set<number>;
  /** Handler chains present. */
  readonly handlers: Set<string>;
  readonly affinityTimeouts: Set<number>;
}

const CHUNK = 2000;

function elementLines(verb: 'add' | 'delete', fam: string, set: string, elems: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elems.length; i += CHUNK) out.push(`${verb} element ${fam} ${TABLE} ${set} { ${elems.slice(i, i + CHUNK).join(', ')} }`);
  return out;
}

function classDecl(family: Family, n: number): string[] {
  const w = words(family);
  return [`add map ${w.nftFamily} ${TABLE} ${classMap(n)} { typeof ${w.addr} daddr . meta l4proto . th dport . numgen random mod ${n} : ${w.addr} daddr . th dport ; size 1048576 ; }`];
}

function handlerDecl(family: Family, h: Handler, opts: RenderOptions): string[] {
  const w = words(family);
  const t = `${w.nftFamily} ${TABLE}`;
  const c = handlerChain(h);
  const lines = [`add chain ${t} ${c}`];
  if (h.masq) lines.push(opts.masqueradeAll ? `add rule ${t} ${c} meta mark set meta mark | ${MASQ_MARK}` : `add rule ${t} ${c} ${w.addr} saddr != @${SETS.podCidrs} meta mark set meta mark | ${MASQ_MARK}`);
  if (h.affinity) lines.push(`add rule ${t} ${c} ${w.addr} saddr . ${w.addr} daddr . meta l4proto . th dport @${SETS.affinity} dnat ${w.addr} to ${w.addr} saddr . ${w.addr} daddr . meta l4proto . th dport map @${SETS.affinity}`);
  lines.push(`add rule ${t} ${c} dnat ${w.addr} to ${w.addr} daddr . meta l4proto . th dport . numgen random mod ${h.n} map @${classMap(h.n)}`);
  return lines;
}

function affinityDecl(family: Family, seconds: number): string[] {
  const w = words(family);
  const t = `${w.nftFamily} ${TABLE}`;
  // The affinity hooks exist only while some service uses affinity: a base chain costs every packet.
  const lines = [
    `add chain ${t} affinity-prerouting { type filter hook prerouting priority -99 ; policy accept ; }`,
    `add chain ${t} affinity-output { type filter hook output priority -99 ; policy accept ; }`,
    `add set ${t} ${affinitySet(seconds)} { type ${w.addrType} . inet_proto . inet_service ; }`,
  ];
  // `ct original proto-dst` needs the protocol known, hence one rule per protocol.
  for (const chain of ['affinity-prerouting', 'affinity-output']) {
    for (const p of ['tcp', 'udp', 'sctp']) {
      lines.push(
        `add rule ${t} ${chain} ct state new meta l4proto ${p} ct original ${w.addr} daddr . meta l4proto . ct original proto-dst @${affinitySet(seconds)} update @${SETS.affinity} { ct original ${w.addr} saddr . ct original ${w.addr} daddr . meta l4proto . ct original proto-dst timeout ${seconds}s : ${w.addr} daddr . th dport }`,
      );
    }
  }
  return lines;
}

/** The fixed part of the table: chains, hooks, sets, and the rules that never change. */
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
    `add map ${t} ${SETS.dispatch} { type ${w.addrType} . inet_proto . inet_service : verdict ; size 1048576 ; }`,
    `add set ${t} ${SETS.noEndpoints} { type ${w.addrType} . inet_proto . inet_service ; size 1048576 ; }`,
    `add set ${t} ${SETS.serviceIPs} { type ${w.addrType} ; size 1048576 ; }`,
    `add set ${t} ${SETS.hairpin} { type ${w.addrType} . ${w.addrType} ; size 1048576 ; }`,
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
  return lines;
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
  for (const [key, f] of model.frontends) forEachFrontendElement(key, f, ctx.opts.masqueradeAll, ctx.isLocal, emit);
  for (const c of model.podCIDRs) emit(SETS.podCidrs, c);
  const classes = new Set<number>();
  const handlers = new Map<string, Handler>();
  const affinityTimeouts = new Set<number>();
  for (const f of model.frontends.values()) {
    const h = handlerOf(f, ctx.opts.masqueradeAll);
    if (h) {
      classes.add(h.n);
      handlers.set(handlerChain(h), h);
    }
    if (f.affinitySeconds !== undefined) affinityTimeouts.add(f.affinitySeconds);
  }
  const lines = [`add table ${t}`, `delete table ${t}`, ...skeleton(model.family, ctx.opts)];
  for (const n of [...classes].sort((a, b) => a - b)) lines.push(...classDecl(model.family, n));
  for (const name of [...handlers.keys()].sort()) lines.push(...handlerDecl(model.family, handlers.get(name) as Handler, ctx.opts));
  for (const s of [...affinityTimeouts].sort((a, b) => a - b)) lines.push(...affinityDecl(model.family, s));
  for (const set of [...bySet.keys()].sort()) lines.push(...elementLines('add', w.nftFamily, set, (bySet.get(set) as string[]).sort()));
  return { script: lines.join('\n') + '\n', state: { family: model.family, frontends: new Map(model.frontends), refs, classes, handlers: new Set(handlers.keys()), affinityTimeouts } };
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
    if (prev) for (const e of frontendElements(key, prev, ctx.opts.masqueradeAll, ctx.isLocal)) touch(e, -1);
    if (next) for (const e of frontendElements(key, next, ctx.opts.masqueradeAll, ctx.isLocal)) touch(e, +1);
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
  // Handler chains, class maps and affinity sets the changed frontends need and the table lacks.
  const newClasses = new Set<number>();
  const newHandlers = new Map<string, Handler>();
  const newTimeouts = new Set<number>();
  for (const f of frontendUpdates.values()) {
    if (!f) continue;
    const h = handlerOf(f, ctx.opts.masqueradeAll);
    if (h && !state.handlers.has(handlerChain(h))) newHandlers.set(handlerChain(h), h);
    if (h && !state.classes.has(h.n)) newClasses.add(h.n);
    if (f.affinitySeconds !== undefined && !state.affinityTimeouts.has(f.affinitySeconds)) newTimeouts.add(f.affinitySeconds);
  }
  const lines: string[] = [];
  for (const n of [...newClasses].sort((a, b) => a - b)) lines.push(...classDecl(model.family, n));
  for (const name of [...newHandlers.keys()].sort()) lines.push(...handlerDecl(model.family, newHandlers.get(name) as Handler, ctx.opts));
  for (const s of [...newTimeouts].sort((a, b) => a - b)) lines.push(...affinityDecl(model.family, s));
  // A map key whose value changes is deleted and re-added (the kernel refuses a second value).
  const delBy = groupBySet(dels);
  for (const set of [...delBy.keys()].sort()) {
    const keys = (delBy.get(set) as string[]).map((e) => (set.startsWith('ep-') || set === SETS.dispatch ? (e.split(' : ')[0] as string) : e)).sort();
    lines.push(...elementLines('delete', w.nftFamily, set, keys));
  }
  const addBy = groupBySet(adds);
  for (const set of [...addBy.keys()].sort()) lines.push(...elementLines('add', w.nftFamily, set, (addBy.get(set) as string[]).sort()));
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
      for (const n of newClasses) s.classes.add(n);
      for (const name of newHandlers.keys()) s.handlers.add(name);
      for (const x of newTimeouts) s.affinityTimeouts.add(x);
    },
  };
}
