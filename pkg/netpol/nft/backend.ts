import type { Nftables, NftTableState } from '../../linux/nftables/types.js';
import type { Family } from '../../util/ip.js';
import type { FirewallBackend, FirewallSyncResult } from '../backend.js';
import { FakeNftables } from '../../linux/nftables/fake.js';
import type { FilterPacket, FilterVerdict } from '../evaluate.js';
import { evaluateNftFilter } from './evaluate.js';
import type { SetSource } from '../model/chains.js';
import type { DesiredFamily } from '../model/tracker.js';
import type { RuleOrigin } from '../model/rules.js';
import { BASE_CHAINS, chainRules, nftRules, ipBlockElements, mapKeyType, NETPOL_CANARY, NETPOL_TABLE, nftElement, nftFamily, nftSetName, setDeclaration, setKeyType, type DispatchMap } from './render.js';

interface NftSet {
  readonly decl: string;
  readonly source: SetSource;
  readonly elements: Set<string>;
}

interface NftMap {
  readonly def: DispatchMap;
  /** Pod address → the chain its packets jump to. */
  readonly elements: Map<string, string>;
}

/** The table as we want it (or last wrote it): our chains' nft rules, our sets and verdict maps by nft name. */
interface TableState {
  readonly chains: Map<string, readonly string[]>;
  readonly sets: Map<string, NftSet>;
  readonly maps: Map<string, NftMap>;
}

const mapElement = (key: string, chain: string): string => `${key} : jump ${chain}`;

/** Where each pod of a dispatch map's member sets goes: the first member that holds it. */
function mapElements(model: DesiredFamily, def: DispatchMap): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of def.members) for (const e of model.unsortedEntries(m.set)) if (!out.has(e)) out.set(e, m.chain);
  return out;
}

function ownerOf(model: DesiredFamily, def: DispatchMap, key: string): string | undefined {
  return def.members.find((m) => model.has(m.set, key))?.chain;
}

/** Elements per `add element` line: keeps each line short for the interactive session. */
const ELEMENTS_PER_LINE = 512;

/** A set's nft elements; sorted only when `sorted` (a whole-table render puts them in a Set and need not). */
function elementsOf(model: DesiredFamily, name: string, source: SetSource, sorted: boolean): string[] {
  if (source.kind === 'ipBlock') return ipBlockElements(source.entries, model.family);
  const entries = sorted ? model.entries(name) : model.unsortedEntries(name);
  return source.kind === 'named' ? Array.from(entries, (e) => nftElement(source, e)) : Array.from(entries);
}

/** The whole desired table (full syncs: the first, the periodic one, any after a failure). */
export function desiredTable(model: DesiredFamily): TableState {
  const chains = new Map<string, readonly string[]>();
  const maps = new Map<string, NftMap>();
  for (const [name, rules] of model.rules) {
    const r = chainRules(name, rules, model.family, model.sources);
    chains.set(name, r.lines);
    for (const def of r.maps) maps.set(def.name, { def, elements: mapElements(model, def) });
  }
  const sets = new Map<string, NftSet>();
  for (const [name, source] of model.sources) {
    const decl = setDeclaration(source, model.family);
    if (decl === undefined) continue;
    sets.set(nftSetName(name), { decl, source, elements: new Set(elementsOf(model, name, source, false)) });
  }
  return { chains, sets, maps };
}

function mapDecl(family: Family): string {
  return `type ${mapKeyType(family)};`;
}

/** The script that replaces the table with `want` in one transaction. */
export function renderTable(want: TableState, family: Family): string[] {
  const f = nftFamily(family);
  const t = `${f} ${NETPOL_TABLE}`;
  const out = [`add table ${t}`, `delete table ${t}`, `add table ${t}`];
  for (const [name, s] of want.sets) {
    out.push(`add set ${t} ${name} { ${s.decl} }`);
    out.push(...elementLines('add', t, name, [...s.elements]));
  }
  for (const name of want.chains.keys()) out.push(`add chain ${t} ${name}`);
  // Maps after the chains their elements jump to, before the rules that look them up.
  for (const [name, m] of want.maps) {
    out.push(`add map ${t} ${name} { ${mapDecl(family)} }`);
    out.push(...elementLines('add', t, name, [...m.elements].map(([k, c]) => mapElement(k, c))));
  }
  for (const [name, rules] of want.chains) for (const r of rules) out.push(`add rule ${t} ${name} ${r}`);
  for (const [base, top] of Object.entries(BASE_CHAINS)) {
    out.push(`add chain ${t} ${base} { type filter hook ${base} priority filter; policy accept; }`, `add rule ${t} ${base} jump ${top}`);
  }
  out.push(`add set ${t} ${NETPOL_CANARY} { type inet_service; }`, `add element ${t} ${NETPOL_CANARY} { 1 }`);
  return out;
}

function elementLines(verb: 'add' | 'delete', table: string, set: string, elements: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elements.length; i += ELEMENTS_PER_LINE) out.push(`${verb} element ${table} ${set} { ${elements.slice(i, i + ELEMENTS_PER_LINE).join(', ')} }`);
  return out;
}

/** Whether the kernel's table has our chains (by rule count), base chains, sets (by type) and the canary: then only elements may differ. */
function sameShape(have: NftTableState, want: TableState, family: Family): boolean {
  if (!(have.sets.get(NETPOL_CANARY)?.elements.includes('1') ?? false)) return false;
  if (have.chains.size !== want.chains.size + Object.keys(BASE_CHAINS).length) return false;
  for (const [name, rules] of want.chains) if (have.chains.get(name)?.ruleCount !== rules.length || have.chains.get(name)?.base !== undefined) return false;
  for (const base of Object.keys(BASE_CHAINS)) if (have.chains.get(base)?.base?.hook !== base || have.chains.get(base)?.ruleCount !== 1) return false;
  if (have.sets.size !== want.sets.size + want.maps.size + 1) return false;
  for (const name of want.maps.keys()) {
    const h = have.sets.get(name);
    if (!h || h.kind !== 'map' || h.type !== mapKeyType(family)) return false;
  }
  for (const [name, s] of want.sets) {
    const h = have.sets.get(name);
    if (!h || h.kind !== 'set' || h.type !== setKeyType(s.source, family)) return false;
  }
  return true;
}

/**
 * The firewall in one nftables table per family. Every sync is one nft transaction: a pod event adds
 * and deletes set elements; a policy event also flushes and refills the chains whose rules changed,
 * adds new ones and deletes stale ones; nothing else is written. A full sync reads the table back:
 * with the canary, every chain's rule count, the base chains and the set types as we left them it
 * writes only the set elements that differ (nothing when nothing does); otherwise (someone flushed or
 * deleted our table or a chain) it replaces the whole table in one transaction.
 */
export class NftFirewallBackend implements FirewallBackend {
  readonly kind = 'nftables';
  private applied: TableState | undefined;

  constructor(
    readonly family: Family,
    /** Reads and whole-table writes (one `nft -f` each). */
    private readonly nft: Nftables,
    /** Small transactions (a pod event): a long-lived session where there is one. */
    private readonly session: Nftables = nft,
  ) {}

  invalidate(): void {
    this.applied = undefined;
  }

  ruleOrigin(model: DesiredFamily, chain: string, rule: string): RuleOrigin | undefined {
    return model.rules.get(chain)?.find((r) => nftRules(r, this.family, model.sources).includes(rule))?.origin;
  }

  /**
   * The table as the kernel holds it now, walked in memory: set elements as the kernel lists them,
   * rules as we committed them (the kernel prints rules in its own normal form, so they are checked by
   * count against the kernel; a table that differs is refused: the next resync repairs it).
   */
  async kernelView(): Promise<(p: FilterPacket) => FilterVerdict> {
    const applied = this.applied;
    const have = await this.nft.dump(nftFamily(this.family), NETPOL_TABLE);
    if (!applied || !have) throw new Error(`IPv${this.family}: the firewall has not programmed its table yet`);
    for (const [c, rules] of applied.chains) if (have.chains.get(c)?.ruleCount !== rules.length) throw new Error(`IPv${this.family}: chain ${c} in the kernel is not what was programmed (the next resync repairs it)`);
    const kernel = (name: string): readonly string[] => have.sets.get(name)?.elements ?? [];
    const sets = new Map([...applied.sets].map(([n, s]) => [n, { ...s, elements: new Set(kernel(n)) }]));
    // Map elements as listed: `198.18.64.2 : jump CHAIN`.
    const maps = new Map([...applied.maps].map(([n, m]) => [n, { def: m.def, elements: new Map(kernel(n).map((e) => [e.split(' : ')[0] ?? '', e.replace(/^.* : jump /, '')])) }]));
    const fake = new FakeNftables();
    await fake.apply(renderTable({ chains: applied.chains, sets, maps }, this.family).join('\n') + '\n');
    return (p) => evaluateNftFilter(fake, p);
  }

  private prefetched: ReturnType<NftFirewallBackend['read']> | undefined;

  private read(): ReturnType<Nftables['dump']> {
    return this.nft.dump(nftFamily(this.family), NETPOL_TABLE);
  }

  prefetch(forceFull: boolean): void {
    if (!forceFull && this.applied) return;
    const p = this.read();
    p.catch(() => undefined); // a sync that never comes must not leave an unhandled rejection; the one that does sees it
    this.prefetched = p;
  }

  async sync(model: DesiredFamily, touched: ReadonlyMap<string, ReadonlySet<string>>, chainsChanged: boolean, forceFull: boolean): Promise<FirewallSyncResult> {
    const t = `${nftFamily(this.family)} ${NETPOL_TABLE}`;
    let readMs = 0;
    let script: string[];
    let next: TableState;
    let mode: FirewallSyncResult['mode'] = 'partial';
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    if (forceFull || !this.applied) {
      mode = 'full';
      next = desiredTable(model);
      const t0 = performance.now();
      const have = await (prefetched ?? this.read());
      readMs = performance.now() - t0;
      if (have && sameShape(have, next, this.family)) {
        script = [];
        for (const [name, s] of next.sets) {
          const kernel = new Set(have.sets.get(name)?.elements ?? []);
          script.push(...elementLines('delete', t, name, [...kernel].filter((e) => !s.elements.has(e))));
          script.push(...elementLines('add', t, name, [...s.elements].filter((e) => !kernel.has(e))));
        }
        for (const [name, m] of next.maps) {
          const kernel = new Set(have.sets.get(name)?.elements ?? []);
          const want = new Set([...m.elements].map(([k, c]) => mapElement(k, c)));
          script.push(...elementLines('delete', t, name, [...kernel].filter((e) => !want.has(e)).map((e) => e.split(' : ')[0] as string)));
          script.push(...elementLines('add', t, name, [...want].filter((e) => !kernel.has(e))));
        }
      } else script = renderTable(next, this.family);
    } else {
      const r = this.delta(this.applied, model, touched, chainsChanged, t);
      script = r.script;
      next = r.next;
    }
    const t1 = performance.now();
    if (script.length > 0) {
      try {
        await (mode === 'full' ? this.nft : this.session).apply(script.join('\n') + '\n');
      } catch (e) {
        this.applied = undefined; // state unknown after a failure: the next sync reads the kernel
        throw e;
      }
    }
    this.applied = next;
    // After a rebuild, have a long-lived session load the new table now, so the next pod change does
    // not pay for it. Not awaited: it cannot fail a sync.
    if (mode === 'full' && script.length > 0) void this.session.prepare?.(nftFamily(this.family), NETPOL_TABLE, NETPOL_CANARY);
    return { mode: script.length === 0 ? 'noop' : mode, writes: script.length, timings: { readMs, rulesMs: performance.now() - t1, setsMs: 0 } };
  }

  /** The transaction from what we applied last to the model: touched elements, changed chains. */
  private delta(prev: TableState, model: DesiredFamily, touched: ReadonlyMap<string, ReadonlySet<string>>, chainsChanged: boolean, t: string): { script: string[]; next: TableState } {
    const script: string[] = [];
    const sets = new Map(prev.sets);
    const chains = new Map(prev.chains);
    const wantSets = new Set<string>();
    for (const [name, source] of model.sources) {
      const decl = setDeclaration(source, this.family);
      if (decl === undefined) continue;
      const nname = nftSetName(name);
      wantSets.add(nname);
      // A set's name is a hash of what it holds, so a set we have keeps its declaration.
      const have = prev.sets.get(nname);
      if (!have) {
        const elements = elementsOf(model, name, source, true);
        script.push(`add set ${t} ${nname} { ${decl} }`, ...elementLines('add', t, nname, elements));
        sets.set(nname, { decl, source, elements: new Set(elements) });
        continue;
      }
      const cand = touched.get(name);
      if (!cand || source.kind === 'ipBlock') continue;
      const add: string[] = [];
      const del: string[] = [];
      for (const entry of cand) {
        const e = nftElement(source, entry);
        const should = model.has(name, entry);
        if (should && !have.elements.has(e)) add.push(e);
        else if (!should && have.elements.has(e)) del.push(e);
      }
      if (add.length + del.length === 0) continue;
      const elements = new Set(have.elements);
      for (const e of del) elements.delete(e);
      for (const e of add) elements.add(e);
      script.push(...elementLines('delete', t, nname, del), ...elementLines('add', t, nname, add));
      sets.set(nname, { decl, source, elements });
    }
    const maps = new Map(prev.maps);
    const staleChains: string[] = [];
    const staleMaps: string[] = [];
    let want: Map<string, readonly string[]> | undefined;
    let wantMaps: Map<string, DispatchMap> | undefined;
    if (chainsChanged) {
      want = new Map();
      wantMaps = new Map();
      for (const [name, rules] of model.rules) {
        const r = chainRules(name, rules, this.family, model.sources);
        want.set(name, r.lines);
        for (const d of r.maps) wantMaps.set(d.name, d);
      }
      // New chains exist (empty) before any rule or map element refers to them.
      for (const name of want.keys()) if (!prev.chains.has(name)) script.push(`add chain ${t} ${name}`);
    }
    // Dispatch maps: a new or changed one written whole; otherwise the touched pods' owners.
    for (const [name, def] of wantMaps ?? new Map([...prev.maps].map(([n, m]) => [n, m.def]))) {
      const have = prev.maps.get(name);
      if (!have || JSON.stringify(have.def) !== JSON.stringify(def)) {
        const elements = mapElements(model, def);
        if (have) script.push(`flush map ${t} ${name}`);
        else script.push(`add map ${t} ${name} { ${mapDecl(this.family)} }`);
        script.push(...elementLines('add', t, name, [...elements].map(([k, c]) => mapElement(k, c))));
        maps.set(name, { def, elements });
        continue;
      }
      const keys = new Set(def.members.flatMap((m) => [...(touched.get(m.set) ?? [])]));
      if (keys.size === 0) continue;
      const elements = new Map(have.elements);
      const del: string[] = [];
      const add: string[] = [];
      for (const k of keys) {
        const owner = ownerOf(model, def, k);
        const cur = have.elements.get(k);
        if (owner === cur) continue;
        if (cur !== undefined) del.push(k);
        if (owner !== undefined) add.push(mapElement(k, owner));
        if (owner === undefined) elements.delete(k);
        else elements.set(k, owner);
      }
      if (del.length + add.length === 0) continue;
      script.push(...elementLines('delete', t, name, del), ...elementLines('add', t, name, add));
      maps.set(name, { def, elements });
    }
    if (want) {
      for (const [name, rules] of want) {
        const old = prev.chains.get(name);
        if (old && old.length === rules.length && old.every((r, i) => r === rules[i])) continue;
        if (old) script.push(`flush chain ${t} ${name}`);
        for (const r of rules) script.push(`add rule ${t} ${name} ${r}`);
        chains.set(name, rules);
      }
      for (const name of prev.chains.keys()) if (!want.has(name)) staleChains.push(name);
      for (const name of prev.maps.keys()) if (!wantMaps?.has(name)) staleMaps.push(name);
      // Stale chains may refer to each other and to stale maps: empty them all, then delete.
      for (const name of staleChains) script.push(`flush chain ${t} ${name}`);
      for (const name of staleMaps) {
        script.push(`delete map ${t} ${name}`);
        maps.delete(name);
      }
      for (const name of staleChains) {
        script.push(`delete chain ${t} ${name}`);
        chains.delete(name);
      }
    }
    for (const name of prev.sets.keys()) {
      if (wantSets.has(name)) continue;
      script.push(`delete set ${t} ${name}`);
      sets.delete(name);
    }
    return { script, next: { chains, sets, maps } };
  }
}

/** Removes this backend's table for one family, if there (the iptables backend took over). */
export async function removeNftFirewall(family: Family, nft: Nftables): Promise<number> {
  const f = nftFamily(family);
  if (!(await nft.listTables()).some((x) => x.family === f && x.name === NETPOL_TABLE)) return 0;
  await nft.apply(`delete table ${f} ${NETPOL_TABLE}\n`);
  return 1;
}
