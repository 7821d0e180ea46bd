import type { Nftables, NftTableState } from '../../linux/nftables/types.js';
import type { Family } from '../../util/ip.js';
import type { FirewallBackend, FirewallSyncResult } from '../backend.js';
import { FakeNftables } from '../../linux/nftables/fake.js';
import type { FilterPacket, FilterVerdict } from '../evaluate.js';
import { evaluateNftFilter } from './evaluate.js';
import type { SetSource } from '../model/chains.js';
import type { DesiredFamily } from '../model/tracker.js';
import { BASE_CHAINS, ipBlockElements, NETPOL_CANARY, NETPOL_TABLE, nftElement, nftFamily, nftRules, nftSetName, setDeclaration } from './render.js';

interface NftSet {
  readonly decl: string;
  readonly source: SetSource;
  readonly elements: Set<string>;
}

/** The table as we want it (or last wrote it): our chains' nft rules and our sets by nft name. */
interface TableState {
  readonly chains: Map<string, readonly string[]>;
  readonly sets: Map<string, NftSet>;
}

/** Elements per `add element` line: keeps each line short for the interactive session. */
const ELEMENTS_PER_LINE = 512;

function elementsOf(model: DesiredFamily, name: string, source: SetSource): string[] {
  if (source.kind === 'ipBlock') return ipBlockElements(source.entries, model.family);
  return model.entries(name).map((e) => nftElement(source, e));
}

/** The whole desired table (full syncs: the first, the periodic one, any after a failure). */
export function desiredTable(model: DesiredFamily): TableState {
  const chains = new Map<string, readonly string[]>();
  for (const [name, rules] of model.rules) chains.set(name, rules.flatMap((r) => nftRules(r, model.family, model.sources)));
  const sets = new Map<string, NftSet>();
  for (const [name, source] of model.sources) {
    const decl = setDeclaration(source, model.family);
    if (decl === undefined) continue;
    sets.set(nftSetName(name), { decl, source, elements: new Set(elementsOf(model, name, source)) });
  }
  return { chains, sets };
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
  const addr = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  if (!(have.sets.get(NETPOL_CANARY)?.elements.includes('1') ?? false)) return false;
  if (have.chains.size !== want.chains.size + Object.keys(BASE_CHAINS).length) return false;
  for (const [name, rules] of want.chains) if (have.chains.get(name)?.ruleCount !== rules.length || have.chains.get(name)?.base !== undefined) return false;
  for (const base of Object.keys(BASE_CHAINS)) if (have.chains.get(base)?.base?.hook !== base || have.chains.get(base)?.ruleCount !== 1) return false;
  if (have.sets.size !== want.sets.size + 1) return false;
  for (const [name, s] of want.sets) {
    const h = have.sets.get(name);
    const type = /type ([^;]+);/.exec(s.decl)?.[1] ?? addr;
    if (!h || h.kind !== 'set' || h.type !== type) return false;
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
    const sets = new Map([...applied.sets].map(([n, s]) => [n, { ...s, elements: new Set(have.sets.get(n)?.elements ?? []) }]));
    const fake = new FakeNftables();
    await fake.apply(renderTable({ chains: applied.chains, sets }, this.family).join('\n') + '\n');
    return (p) => evaluateNftFilter(fake, p);
  }

  async sync(model: DesiredFamily, touched: ReadonlyMap<string, ReadonlySet<string>>, chainsChanged: boolean, forceFull: boolean): Promise<FirewallSyncResult> {
    const t = `${nftFamily(this.family)} ${NETPOL_TABLE}`;
    let readMs = 0;
    let script: string[];
    let next: TableState;
    let mode: FirewallSyncResult['mode'] = 'partial';
    if (forceFull || !this.applied) {
      mode = 'full';
      next = desiredTable(model);
      const t0 = performance.now();
      const have = await this.nft.dump(nftFamily(this.family), NETPOL_TABLE);
      readMs = performance.now() - t0;
      if (have && sameShape(have, next, this.family)) {
        script = [];
        for (const [name, s] of next.sets) {
          const kernel = new Set(have.sets.get(name)?.elements ?? []);
          script.push(...elementLines('delete', t, name, [...kernel].filter((e) => !s.elements.has(e))));
          script.push(...elementLines('add', t, name, [...s.elements].filter((e) => !kernel.has(e))));
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
      const have = prev.sets.get(nname);
      if (!have || have.decl !== decl) {
        const elements = elementsOf(model, name, source);
        if (have) script.push(`delete set ${t} ${nname}`);
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
    const stale: string[] = [];
    if (chainsChanged) {
      const want = new Map<string, readonly string[]>();
      for (const [name, rules] of model.rules) want.set(name, rules.flatMap((r) => nftRules(r, this.family, model.sources)));
      // New chains exist (empty) before any rule refers to them.
      for (const name of want.keys()) if (!prev.chains.has(name)) script.push(`add chain ${t} ${name}`);
      for (const [name, rules] of want) {
        const old = prev.chains.get(name);
        if (old && old.length === rules.length && old.every((r, i) => r === rules[i])) continue;
        if (old) script.push(`flush chain ${t} ${name}`);
        for (const r of rules) script.push(`add rule ${t} ${name} ${r}`);
        chains.set(name, rules);
      }
      for (const name of prev.chains.keys()) if (!want.has(name)) stale.push(name);
      // Stale chains may refer to each other: empty them all, then delete them.
      for (const name of stale) script.push(`flush chain ${t} ${name}`);
      for (const name of stale) {
        script.push(`delete chain ${t} ${name}`);
        chains.delete(name);
      }
    }
    for (const name of prev.sets.keys()) {
      if (wantSets.has(name)) continue;
      script.push(`delete set ${t} ${name}`);
      sets.delete(name);
    }
    return { script, next: { chains, sets } };
  }
}

/** Removes this backend's table for one family, if there (the iptables backend took over). */
export async function removeNftFirewall(family: Family, nft: Nftables): Promise<number> {
  const f = nftFamily(family);
  if (!(await nft.listTables()).some((x) => x.family === f && x.name === NETPOL_TABLE)) return 0;
  await nft.apply(`delete table ${f} ${NETPOL_TABLE}\n`);
  return 1;
}
