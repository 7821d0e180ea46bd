import type { Ipset, IpsetSpec } from '../../linux/ipset/types.js';
import { renderCreate, renderDestroy, renderSetSync } from '../../linux/ipset/render.js';
import type { Iptables } from '../../linux/iptables/types.js';
import { parseSave } from '../../linux/iptables/save.js';
import { jumpRepairLines } from '../../linux/iptables/owned-chain.js';
import type { Family } from '../../util/ip.js';
import { TOP_CHAINS, isFirewallChain, isFirewallSet, localPodsSet } from '../model/names.js';
import type { DesiredFamily } from '../model/tracker.js';
import type { FirewallBackend, FirewallSyncResult } from '../backend.js';
import type { RuleOrigin } from '../model/rules.js';
import { FakeIptables } from '../../linux/iptables/fake.js';
import { FakeIpset } from '../../linux/ipset/fake.js';
import { evaluateFilter, type FilterPacket, type FilterVerdict } from '../evaluate.js';

export const JUMP_COMMENT = 'kube-router netpol';

/** The one rule in each built-in chain that hands packets to ours, in `iptables-save` form. */
export function jumpRule(builtin: keyof typeof TOP_CHAINS): string {
  return `-m comment --comment "${JUMP_COMMENT}" -j ${TOP_CHAINS[builtin]}`;
}

interface KnownState {
  readonly chains: Map<string, readonly string[]>;
  readonly sets: Map<string, { readonly type: string; readonly entries: Set<string> }>;
}


function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);
}

/**
 * Applies the firewall model for one family: one `ipset restore` (new sets and member changes), one
 * `iptables-restore --noflush` naming only our changed chains (never a whole-table restore), then one
 * `ipset restore` destroying sets no rule uses any more. It diffs against what it applied last; a full
 * sync (first run, periodic, after any failure) diffs against the kernel read back instead, so a
 * resync that finds nothing changed writes nothing, and a chain or set someone removed is put back.
 */
export class IptablesFirewallBackend implements FirewallBackend {
  readonly kind = 'iptables';
  private applied: KnownState | undefined;

  constructor(
    readonly family: Family,
    private readonly iptables: Iptables,
    private readonly ipset: Ipset,
  ) {}

  invalidate(): void {
    this.applied = undefined;
  }

  ruleOrigin(model: DesiredFamily, chain: string, rule: string): RuleOrigin | undefined {
    return model.rules.get(chain)?.[model.chains.get(chain)?.indexOf(rule) ?? -1]?.origin;
  }

  /**
   * Our chains and sets as `iptables-save` and `ipset save` give them now, loaded into the in-memory
   * models of iptables and ipset, walked from our top chain of the hook (the jump to it is the first
   * rule of the built-in chain, so what follows in the built-in chain is not ours to judge).
   */
  async kernelView(): Promise<(p: FilterPacket) => FilterVerdict> {
    const [text, sets] = await Promise.all([this.iptables.save('filter'), this.ipset.save()]);
    const chains = [...parseSave(text).chains].filter(([name]) => isFirewallChain(name));
    const ipt = new FakeIptables(this.family);
    await ipt.restore(['*filter', ...chains.map(([c]) => `:${c} - [0:0]`), ...chains.flatMap(([c, rules]) => rules.map((r) => `-A ${c} ${r}`)), 'COMMIT', ''].join('\n'));
    const ipset = new FakeIpset();
    const ours = sets.filter((s) => isFirewallSet(s.name)).sort((a, b) => Number(a.type === 'list:set') - Number(b.type === 'list:set'));
    await ipset.restore(ours.map((s) => [`create ${s.name} ${s.type} family ${s.family === 4 ? 'inet' : 'inet6'}`, ...s.entries.map((e) => `add ${s.name} ${e}`)].join('\n')).join('\n') + '\n');
    return (p) => evaluateFilter(ipt, ipset, p, TOP_CHAINS[p.hook]);
  }

  needsFull(): boolean {
    return this.applied === undefined;
  }

  /**
   * `touched`: set entries that may have changed since the last sync (ignored on a full sync).
   * `chainsChanged`: whether the chain model was re-rendered.
   */
  private prefetched: ReturnType<IptablesFirewallBackend['read']> | undefined;

  private read(): Promise<[string, Awaited<ReturnType<Ipset['save']>>]> {
    return Promise.all([this.iptables.save('filter'), this.ipset.save()]);
  }

  prefetch(forceFull: boolean): void {
    if (!forceFull && this.applied !== undefined) return;
    const p = this.read();
    p.catch(() => undefined); // a sync that never comes must not leave an unhandled rejection; the one that does sees it
    this.prefetched = p;
  }

  async sync(model: DesiredFamily, touched: ReadonlyMap<string, ReadonlySet<string>>, chainsChanged: boolean, forceFull: boolean): Promise<FirewallSyncResult> {
    const full = forceFull || this.applied === undefined;
    let saveMs = 0;
    let known: KnownState;
    let builtins: ReadonlyMap<string, readonly string[]> | undefined;
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    if (full) {
      const t0 = performance.now();
      const [text, sets] = await (prefetched ?? this.read());
      saveMs = performance.now() - t0;
      const saved = parseSave(text);
      builtins = saved.chains;
      known = {
        chains: new Map([...saved.chains].filter(([name]) => isFirewallChain(name))),
        sets: new Map(sets.filter((s) => s.family === this.family && isFirewallSet(s.name)).map((s) => [s.name, { type: s.type, entries: new Set(s.entries) }])),
      };
    } else known = this.applied as KnownState;
    try {
      return await this.write(model, known, builtins, full, full || chainsChanged, touched, saveMs);
    } catch (e) {
      this.applied = undefined; // state unknown after a failure: the next sync reads the kernel
      throw e;
    }
  }

  private async write(
    model: DesiredFamily,
    known: KnownState,
    builtins: ReadonlyMap<string, readonly string[]> | undefined,
    full: boolean,
    compareChains: boolean,
    touched: ReadonlyMap<string, ReadonlySet<string>>,
    saveMs: number,
  ): Promise<FirewallSyncResult> {
    // 1. Sets: new ones whole; existing ones by member (all members on a full sync, touched ones otherwise).
    const lp = localPodsSet(this.family);
    const whole: IpsetSpec[] = [];
    const creates: string[] = [];
    const fresh: string[] = [];
    const adds: string[] = [];
    const dels: string[] = [];
    const lpAdds: string[] = [];
    const lpDels: string[] = [];
    const nextSets = new Map(known.sets);
    for (const [name, type] of model.sets) {
      const have = known.sets.get(name);
      const spec = (): IpsetSpec => ({ name, type, family: this.family, entries: model.entries(name) });
      if (!have) {
        // A new set is filled before any rule refers to it: no temp set needed.
        const es = model.entries(name);
        creates.push(renderCreate(spec()));
        (name === lp ? lpAdds : fresh).push(...es.map((e) => `add ${name} ${e}`));
        nextSets.set(name, { type, entries: new Set(es) });
        continue;
      }
      if (have.type !== type) {
        const s = spec();
        whole.push(s);
        nextSets.set(name, { type, entries: new Set(s.entries) });
        continue;
      }
      const candidates = full ? new Set([...have.entries, ...model.entries(name)]) : touched.get(name);
      if (!candidates) continue;
      const changedEntries = new Set(have.entries);
      const a: string[] = [];
      const d: string[] = [];
      for (const e of candidates) {
        const should = model.has(name, e);
        if (should && !have.entries.has(e)) {
          a.push(e);
          changedEntries.add(e);
        } else if (!should && have.entries.has(e)) {
          d.push(e);
          changedEntries.delete(e);
        }
      }
      if (a.length + d.length === 0) continue;
      if (full) {
        whole.push(spec()); // a set found different in the kernel is refilled behind a swap
      } else {
        // New members go in before the local-pods set learns a pod, and leave after it forgot it.
        const [A, D] = name === lp ? [lpAdds, lpDels] : [adds, dels];
        for (const e of a) A.push(`add ${name} ${e}`);
        for (const e of d) D.push(`del ${name} ${e}`);
      }
      nextSets.set(name, { type, entries: changedEntries });
    }
    const setLines = [...lpDels, ...dels, ...adds, ...lpAdds];
    const lines = (xs: readonly string[]): string => (xs.length > 0 ? xs.join('\n') + '\n' : '');
    const createText = lines(creates);
    const fillText = lines(fresh) + (whole.length > 0 ? renderSetSync(whole) : '') + lines(setLines);
    // Sets first (a rule may only refer to a set that exists and is filled): `ipset restore` runs while
    // the chains' text is built, and the chains go in once it is done.
    const ipsetText = createText + fillText;
    const t0 = performance.now();
    let ipsetRestoreMs = 0;
    const setsWritten = ipsetText === '' ? Promise.resolve() : this.ipset.restore(ipsetText).then(() => void (ipsetRestoreMs = performance.now() - t0));
    setsWritten.catch(() => undefined); // awaited below; this only keeps a failure from being reported unhandled meanwhile

    // 2. Chains: only ours, only changed ones, plus the jumps from the built-in chains.
    const ipt: string[] = [];
    const decl: string[] = [];
    const nextChains = new Map(known.chains);
    if (compareChains) {
      for (const [name, rules] of model.chains) {
        if (sameRules(known.chains.get(name), rules)) continue;
        decl.push(`:${name} - [0:0]`);
        for (const r of rules) ipt.push(`-A ${name} ${r}`);
        nextChains.set(name, rules);
      }
      const stale = [...known.chains.keys()].filter((c) => !model.chains.has(c)).sort();
      for (const c of stale) {
        decl.push(`:${c} - [0:0]`);
        nextChains.delete(c);
      }
      for (const c of stale) ipt.push(`-X ${c}`);
    }
    if (builtins) {
      for (const b of ['INPUT', 'FORWARD', 'OUTPUT'] as const) ipt.push(...jumpRepairLines(builtins.get(b) ?? [], { from: b, rules: [jumpRule(b)], placement: 'top' }));
    }
    // Lists first: a set cannot be destroyed while a list:set still holds it.
    const staleSets = [...known.sets.keys()].filter((s) => !model.sets.has(s)).sort((a, b) => Number(known.sets.get(a)?.type !== 'list:set') - Number(known.sets.get(b)?.type !== 'list:set') || (a < b ? -1 : a > b ? 1 : 0));
    for (const s of staleSets) nextSets.delete(s);

    let iptablesRestoreMs = 0;
    await setsWritten;
    if (decl.length + ipt.length > 0) {
      const t0 = performance.now();
      await this.iptables.restore(['*filter', ...decl, ...ipt, 'COMMIT', ''].join('\n'));
      iptablesRestoreMs = performance.now() - t0;
    }
    if (staleSets.length > 0) {
      const t0 = performance.now();
      await this.ipset.restore(renderDestroy(staleSets));
      ipsetRestoreMs += performance.now() - t0;
    }
    this.applied = { chains: nextChains, sets: nextSets };
    const writes = creates.length + (fillText === '' ? 0 : fillText.split('\n').length - 1) + decl.length + ipt.length + staleSets.length;
    return { mode: writes === 0 ? 'noop' : full ? 'full' : 'partial', writes, timings: { readMs: saveMs, rulesMs: iptablesRestoreMs, setsMs: ipsetRestoreMs } };
  }
}

/**
 * Removes this backend's objects for one family (the other backend took over, or cleanup): the jumps
 * from INPUT, FORWARD and OUTPUT, our chains, our sets of that family. Nothing else. Returns how many
 * objects went.
 */
export async function removeIptablesFirewall(family: Family, iptables: Iptables, ipset: Ipset): Promise<number> {
  const saved = parseSave(await iptables.save('filter'));
  const lines: string[] = [];
  for (const b of ['INPUT', 'FORWARD', 'OUTPUT'] as const) for (const r of saved.chains.get(b) ?? []) if (r.includes(`--comment "${JUMP_COMMENT}"`)) lines.push(`-D ${b} ${r}`);
  const chains = [...saved.chains.keys()].filter(isFirewallChain).sort();
  if (lines.length + chains.length > 0) await iptables.restore(['*filter', ...lines, ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n'));
  const sets = (await ipset.save()).filter((s) => s.family === family && isFirewallSet(s.name));
  const order = sets.sort((a, b) => Number(a.type !== 'list:set') - Number(b.type !== 'list:set') || (a.name < b.name ? -1 : 1)).map((s) => s.name);
  if (order.length > 0) await ipset.restore(renderDestroy(order));
  return lines.length + chains.length + order.length;
}
