import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { canonicalElement, type NftChainState, type NftCounter, type NftFamily, type Nftables, type NftSetState, type NftTableState } from './types.js';

interface FChain {
  base?: { type: string; hook: string; priority: number; policy?: string };
  rules: string[];
}
interface FSet {
  kind: 'set' | 'map';
  type: string;
  elements: Set<string>;
  /** Declared with `counter`: every element counts the packets its lookups match (tests move them with `count`). */
  counters?: Map<string, NftCounter>;
}
interface FTable {
  chains: Map<string, FChain>;
  sets: Map<string, FSet>;
}

const PRIORITY_NAMES: Readonly<Record<string, number>> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };

function clone(t: FTable): FTable {
  return {
    chains: new Map([...t.chains].map(([k, c]) => [k, { ...c, rules: [...c.rules] }])),
    sets: new Map([...t.sets].map(([k, s]) => [k, { ...s, elements: new Set(s.elements), ...(s.counters ? { counters: new Map(s.counters) } : {}) }])),
  };
}

/** Chain names a rule or element jumps to, and set names it looks up. */
function references(text: string): { chains: string[]; sets: string[] } {
  const chains = [...text.matchAll(/\b(?:jump|goto)\s+([\w.-]+)/g)].map((m) => m[1] as string);
  const sets = [...text.matchAll(/@([\w.-]+)/g)].map((m) => m[1] as string);
  return { chains, sets };
}

function splitElements(body: string): string[] {
  return body.split(',').map((e) => canonicalElement(e)).filter((e) => e !== '');
}

/**
 * In-memory nftables for the command subset our renderers emit (add/delete table; add/delete/flush
 * chain; add/delete/flush set and map; add/delete element; add/insert rule). A script is one
 * transaction applied to a copy and committed all-or-nothing, as the kernel does. References are
 * checked: jumps and gotos (in rules and map values) to missing chains, lookups of missing sets,
 * deleting what is still referenced, deleting elements that are not there.
 */
export class FakeNftables implements Nftables {
  tables = new Map<string, FTable>();
  readonly scripts: string[] = [];

  apply(script: string): Promise<void> {
    this.scripts.push(script);
    try {
      this.tables = this.applyTo(new Map([...this.tables].map(([k, t]) => [k, clone(t)])), script);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private applyTo(tables: Map<string, FTable>, script: string): Map<string, FTable> {
    const lines = script.split('\n');
    const fail = (n: number, why: string): never => {
      throw new KubeRouterError(ErrorCode.RestoreFailed, `fake nft -f failed at line ${n}: ${why}`, { line: n, failingLine: lines[n - 1], stderr: why });
    };
    lines.forEach((raw, i) => {
      const n = i + 1;
      const line = raw.replace(/#.*$/, '').trim();
      if (line === '') return;
      const m = /^(add|create|delete|flush|insert)\s+(table|chain|set|map|element|rule)\s+(ip|ip6|inet)\s+([\w.-]+)\s*(.*)$/.exec(line);
      if (!m) return fail(n, `syntax error (not understood by the fake): ${line}`);
      const [, verb, what, family, tname, restRaw = ''] = m as unknown as [string, string, string, NftFamily, string, string];
      const key = `${family} ${tname}`;
      if (what === 'table') {
        if (verb === 'add') tables.set(key, tables.get(key) ?? { chains: new Map(), sets: new Map() });
        else if (verb === 'create') {
          if (tables.has(key)) fail(n, 'File exists');
          tables.set(key, { chains: new Map(), sets: new Map() });
        } else if (verb === 'delete') {
          if (!tables.delete(key)) fail(n, 'No such file or directory');
        } else fail(n, `the fake does not model "${verb} table"`);
        return;
      }
      const t = tables.get(key) ?? fail(n, `No such file or directory: table ${key}`);
      const nm = /^([\w.-]+)\s*(.*)$/.exec(restRaw);
      const name = nm?.[1] ?? fail(n, 'missing name');
      const rest = (nm?.[2] ?? '').trim();
      const block = /^\{(.*)\}$/.exec(rest)?.[1]?.trim();
      switch (what) {
        case 'chain': {
          const c = t.chains.get(name);
          if (verb === 'add' || verb === 'create') {
            let base: FChain['base'];
            if (block) {
              const b = /type\s+(\w+)\s+hook\s+(\w+)\s+(?:device\s+\S+\s+)?priority\s+([\w-]+)\s*;(?:\s*policy\s+(\w+)\s*;)?/.exec(block) ?? fail(n, `bad chain spec: ${block}`);
              const prio = /^-?\d+$/.test(b[3] as string) ? Number(b[3]) : (PRIORITY_NAMES[b[3] as string] ?? fail(n, `unknown priority ${b[3]}`));
              base = { type: b[1] as string, hook: b[2] as string, priority: prio, ...(b[4] ? { policy: b[4] } : {}) };
            }
            if (c) {
              if (verb === 'create') fail(n, 'File exists');
              if (base && JSON.stringify(c.base) !== JSON.stringify(base)) fail(n, 'Device or resource busy: chain exists with another hook');
            } else t.chains.set(name, { ...(base ? { base } : {}), rules: [] });
          } else if (verb === 'delete') {
            if (!c) fail(n, 'No such file or directory');
            if (c && c.rules.length > 0) fail(n, 'Device or resource busy: chain has rules');
            this.assertUnreferenced(t, name, 'chain', n, fail);
            t.chains.delete(name);
          } else if (verb === 'flush') {
            if (!c) fail(n, 'No such file or directory');
            if (c) c.rules = [];
          } else fail(n, `${verb} chain`);
          return;
        }
        case 'set':
        case 'map': {
          const s = t.sets.get(name);
          if (verb === 'add' || verb === 'create') {
            const tm = /(?:^|;)\s*(type|typeof)\s+([^;]+);/.exec(block ?? '') ?? fail(n, 'set needs a type');
            const type = `${tm[1] === 'typeof' ? 'typeof ' : ''}${(tm[2] as string).trim().replace(/\s+/g, ' ')}`;
            if ((what === 'map') !== type.includes(':')) fail(n, `${what} type ${type}`);
            if (s) {
              if (verb === 'create' || s.type !== type || s.kind !== what) fail(n, 'File exists');
            } else t.sets.set(name, { kind: what, type, elements: new Set(), ...(/(?:^|;)\s*counter\s*(?:;|$)/.test(block ?? '') ? { counters: new Map() } : {}) });
          } else if (verb === 'delete') {
            if (!s || s.kind !== what) fail(n, 'No such file or directory');
            this.assertUnreferenced(t, name, 'set', n, fail);
            t.sets.delete(name);
          } else if (verb === 'flush') {
            if (!s) fail(n, 'No such file or directory');
            s?.elements.clear();
          } else fail(n, `${verb} ${what}`);
          return;
        }
        case 'element': {
          const s = t.sets.get(name) ?? fail(n, `No such file or directory: set ${name}`);
          if (block === undefined) fail(n, 'elements need { }');
          for (const e of splitElements(block ?? '')) {
            if (verb !== 'delete' && s.kind === 'map' !== e.includes(' : ')) fail(n, `element ${e} does not fit ${s.kind} ${name}`);
            if (verb === 'add' || verb === 'create') {
              for (const c of references(e).chains) if (!t.chains.has(c)) fail(n, `No such file or directory: chain ${c}`);
              const k = s.kind === 'map' ? e.split(' : ')[0] : e;
              // The kernel accepts re-adding an identical element; a map key with another value is EEXIST.
              for (const x of s.elements) if ((s.kind === 'map' ? x.split(' : ')[0] : x) === k && (verb === 'create' || x !== e)) fail(n, `File exists: ${e}`);
              s.elements.add(e);
              if (s.counters && !s.counters.has(e)) s.counters.set(e, { packets: 0, bytes: 0 });
            } else if (verb === 'delete') {
              const k = s.kind === 'map' ? e.split(' : ')[0] : e;
              const hit = [...s.elements].find((x) => (s.kind === 'map' ? x.split(' : ')[0] : x) === k) ?? fail(n, `No such file or directory: element ${e}`);
              s.elements.delete(hit);
              s.counters?.delete(hit);
            } else fail(n, `${verb} element`);
          }
          return;
        }
        case 'rule': {
          const c = t.chains.get(name) ?? fail(n, `No such file or directory: chain ${name}`);
          if (verb !== 'add' && verb !== 'insert') fail(n, `the fake does not model "${verb} rule"`);
          const refs = references(rest);
          for (const x of refs.chains) if (!t.chains.has(x)) fail(n, `No such file or directory: chain ${x}`);
          for (const x of refs.sets) if (!t.sets.has(x)) fail(n, `No such file or directory: set ${x}`);
          const rule = rest.replace(/\s+/g, ' ');
          if (verb === 'add') c.rules.push(rule);
          else c.rules.unshift(rule);
          return;
        }
      }
    });
    return tables;
  }

  private assertUnreferenced(t: FTable, name: string, kind: 'chain' | 'set', n: number, fail: (n: number, why: string) => never): void {
    for (const [cn, c] of t.chains) for (const r of c.rules) if ((kind === 'chain' ? references(r).chains : references(r).sets).includes(name)) fail(n, `Device or resource busy: ${name} is used by chain ${cn}`);
    if (kind === 'chain') for (const [sn, s] of t.sets) for (const e of s.elements) if (references(e).chains.includes(name)) fail(n, `Device or resource busy: ${name} is used by map ${sn}`);
  }

  dump(family: NftFamily, table: string): Promise<NftTableState | undefined> {
    const t = this.tables.get(`${family} ${table}`);
    if (!t) return Promise.resolve(undefined);
    const chains = new Map<string, NftChainState>([...t.chains].map(([k, c]) => [k, { ...(c.base ? { base: c.base } : {}), ruleCount: c.rules.length }]));
    const sets = new Map<string, NftSetState>([...t.sets].map(([k, s]) => [k, { kind: s.kind, type: s.type, elements: [...s.elements].sort() }]));
    return Promise.resolve({ chains, sets });
  }

  listSet(family: NftFamily, table: string, set: string): Promise<string[] | undefined> {
    const s = this.tables.get(`${family} ${table}`)?.sets.get(set);
    return Promise.resolve(s ? [...s.elements].sort() : undefined);
  }

  listSetCounters(family: NftFamily, table: string, set: string): Promise<ReadonlyMap<string, NftCounter> | undefined> {
    const s = this.tables.get(`${family} ${table}`)?.sets.get(set);
    return Promise.resolve(s ? new Map(s.counters ?? []) : undefined);
  }

  /** Test hook: traffic matched by one element of a set declared with `counter`. */
  count(family: NftFamily, table: string, set: string, element: string, packets: number, bytes: number): void {
    const c = this.tables.get(`${family} ${table}`)?.sets.get(set)?.counters;
    const cur = c?.get(element);
    if (c && cur) c.set(element, { packets: cur.packets + packets, bytes: cur.bytes + bytes });
  }

  listTables(): Promise<{ family: NftFamily; name: string }[]> {
    return Promise.resolve([...this.tables.keys()].map((k) => ({ family: k.split(' ')[0] as NftFamily, name: k.split(' ')[1] as string })));
  }

  /** Rule texts of one chain, for the packet evaluator and assertions. */
  rules(family: NftFamily, table: string, chain: string): readonly string[] | undefined {
    return this.tables.get(`${family} ${table}`)?.chains.get(chain)?.rules;
  }
}
