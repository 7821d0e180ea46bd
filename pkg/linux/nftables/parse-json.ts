import { asNumber, asString } from '../../util/json.js';
import type { NftChainState, NftCounter, NftFamily, NftSetState, NftTableState } from './types.js';

type J = unknown;

function obj(v: J): Record<string, J> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, J>) : undefined;
}

/** Renders one JSON element value in our canonical text form. */
export function elementText(v: J): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(elementText).join(' . ');
  const o = obj(v);
  if (!o) return String(v);
  if ('concat' in o) return (o['concat'] as J[]).map(elementText).join(' . ');
  if ('prefix' in o) {
    const p = obj(o['prefix']);
    return `${elementText(p?.['addr'])}/${elementText(p?.['len'])}`;
  }
  if ('range' in o) return (o['range'] as J[]).map(elementText).join('-');
  if ('elem' in o) return elementText(obj(o['elem'])?.['val']);
  for (const verdict of ['goto', 'jump']) if (verdict in o) return `${verdict} ${elementText(obj(o[verdict])?.['target'])}`;
  for (const verdict of ['accept', 'drop', 'return', 'continue']) if (verdict in o) return verdict;
  return JSON.stringify(v);
}

function typeText(t: J): string {
  return Array.isArray(t) ? t.map(String).join(' . ') : String(t);
}

/** Turns `nft -j list table F T` output into our structured state. */
export function parseNftJson(text: string, family: NftFamily, table: string): NftTableState {
  const doc = obj(JSON.parse(text) as J);
  const items = (doc?.['nftables'] as J[] | undefined) ?? [];
  const chains = new Map<string, NftChainState>();
  const ruleCounts = new Map<string, number>();
  const sets = new Map<string, NftSetState>();
  for (const item of items) {
    const o = obj(item);
    if (!o) continue;
    const c = obj(o['chain']);
    if (c && c['family'] === family && c['table'] === table) {
      const name = String(c['name']);
      const hook = asString(c['hook']);
      const policy = asString(c['policy']);
      const base = hook !== undefined ? { type: asString(c['type']) ?? '', hook, priority: asNumber(c['prio']) ?? 0, ...(policy !== undefined ? { policy } : {}) } : undefined;
      chains.set(name, { ...(base ? { base } : {}), ruleCount: 0 });
    }
    const r = obj(o['rule']);
    if (r && r['family'] === family && r['table'] === table) ruleCounts.set(String(r['chain']), (ruleCounts.get(String(r['chain'])) ?? 0) + 1);
    for (const kind of ['set', 'map'] as const) {
      const s = obj(o[kind]);
      if (!s || s['family'] !== family || s['table'] !== table) continue;
      const keyType = typeText(s['type']);
      const type = kind === 'map' ? `${keyType} : ${typeText(s['map'])}` : keyType;
      const elems = ((s['elem'] as J[] | undefined) ?? []).map((e) => (kind === 'map' && Array.isArray(e) ? `${elementText(e[0])} : ${elementText(e[1])}` : elementText(e)));
      sets.set(String(s['name']), { kind, type, elements: elems.sort() });
    }
  }
  for (const [name, n] of ruleCounts) {
    const c = chains.get(name);
    if (c) chains.set(name, { ...c, ruleCount: n });
  }
  return { chains, sets };
}

/** `nft -j list set` of a set declared with `counter`: element text → its counter. */
export function parseSetCounters(text: string): Map<string, NftCounter> {
  const doc = JSON.parse(text) as { nftables?: J[] };
  const out = new Map<string, NftCounter>();
  for (const item of doc.nftables ?? []) {
    const s = obj(obj(item)?.['set']);
    for (const e of (s?.['elem'] as J[] | undefined) ?? []) {
      const el = obj(obj(e)?.['elem']);
      const c = obj(el?.['counter']);
      if (!el || !c) continue;
      out.set(elementText(el['val']), { packets: Number(c['packets'] ?? 0), bytes: Number(c['bytes'] ?? 0) });
    }
  }
  return out;
}
