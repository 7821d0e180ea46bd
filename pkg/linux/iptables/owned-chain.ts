import { parseSave, type SavedTable } from './save.js';
import type { Iptables, IptablesTable } from './types.js';

/**
 * "Our chain plus exactly one jump from a built-in chain", the one way every controller hooks into
 * iptables. Only our chains are declared in a restore (so `--noflush` flushes nothing of anyone else's),
 * and a built-in chain only ever sees `-D`/`-I`/`-A` of our own jump rules.
 */
export interface OwnedChain {
  readonly name: string;
  /** In `iptables-save` form without `-A NAME `. */
  readonly rules: readonly string[];
}

/**
 * Jumps from one built-in chain into ours. `top`: they are the chain's first rules, in this order (a
 * foreign rule pushed above them is repaired); `append`: each exists exactly once, anywhere (others may
 * decide first, as for FORWARD accept rules).
 */
export interface ChainJumps {
  readonly from: string;
  readonly rules: readonly string[];
  readonly placement: 'top' | 'append';
}

export interface OwnedChainSpec {
  readonly table: IptablesTable;
  readonly chains: readonly OwnedChain[];
  readonly jumps: readonly ChainJumps[];
}

function same(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);
}

/** The restore lines (without `*table` and `COMMIT`) that repair one built-in chain's jumps; none when they are right. Pure. */
export function jumpRepairLines(have: readonly string[], j: ChainJumps): string[] {
  const count = (r: string): number => have.filter((x) => x === r).length;
  const ok = j.placement === 'top' ? same(have.slice(0, j.rules.length), j.rules) && j.rules.every((r) => count(r) === 1) : j.rules.every((r) => count(r) === 1);
  if (ok) return [];
  const out: string[] = [];
  for (const r of j.rules) for (let i = 0; i < count(r); i++) out.push(`-D ${j.from} ${r}`);
  if (j.placement === 'top') for (const r of [...j.rules].reverse()) out.push(`-I ${j.from} 1 ${r}`);
  else for (const r of j.rules) out.push(`-A ${j.from} ${r}`);
  return out;
}

/** Restore lines (without `*table` and `COMMIT`) that make `spec` true of `saved`: declarations first. Pure. */
export function ownedChainLines(saved: SavedTable, spec: Pick<OwnedChainSpec, 'chains' | 'jumps'>): string[] {
  const decl: string[] = [];
  const rules: string[] = [];
  for (const c of spec.chains) {
    if (same(saved.chains.get(c.name), c.rules)) continue;
    decl.push(`:${c.name} - [0:0]`);
    for (const r of c.rules) rules.push(`-A ${c.name} ${r}`);
  }
  for (const j of spec.jumps) rules.push(...jumpRepairLines(saved.chains.get(j.from) ?? [], j));
  return [...decl, ...rules];
}

/**
 * Reads the table once and writes only what differs, in one `iptables-restore --noflush`. Returns the
 * number of lines written (0 when everything was in place).
 */
export async function ensureOwnedChains(ipt: Iptables, specs: readonly OwnedChainSpec[]): Promise<number> {
  const out: string[] = [];
  let writes = 0;
  for (const spec of specs) {
    const lines = ownedChainLines(parseSave(await ipt.save(spec.table)), spec);
    if (lines.length === 0) continue;
    writes += lines.length;
    out.push(`*${spec.table}`, ...lines, 'COMMIT');
  }
  if (writes > 0) await ipt.restore([...out, ''].join('\n'));
  return writes;
}
