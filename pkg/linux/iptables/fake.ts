import type { Family } from '../../util/ip.js';
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { BUILTIN_CHAINS, BUILTIN_TARGETS, splitRuleWords, type Iptables, type IptablesTable, type IptablesVariant } from './types.js';

interface Chain {
  policy?: string; // built-in chains only
  rules: string[]; // rule text after `-A NAME `, whitespace-normalised
}
type TableState = Map<string, Chain>;

function freshTable(t: IptablesTable): TableState {
  return new Map(BUILTIN_CHAINS[t].map((c) => [c, { policy: 'ACCEPT', rules: [] }]));
}

function normalise(words: readonly string[]): string {
  return words.map((w) => (/[\s"]/.test(w) || w === '' ? JSON.stringify(w) : w)).join(' ');
}

function jumpTarget(words: readonly string[]): string | undefined {
  for (let i = 0; i < words.length - 1; i++) if (words[i] === '-j' || words[i] === '--jump' || words[i] === '-g' || words[i] === '--goto') return words[i + 1];
  return undefined;
}

/**
 * In-memory iptables with `iptables-restore --noflush` semantics: per-table all-or-nothing commits,
 * references checked (a jump to a missing chain, deleting a chain still referenced or not empty,
 * deleting a rule that is not there), and `iptables-save`-shaped output. Records every restore.
 */
export class FakeIptables implements Iptables {
  readonly tables = new Map<IptablesTable, TableState>();
  readonly restores: string[] = [];

  constructor(
    readonly family: Family = 4,
    readonly variant: IptablesVariant = 'nft',
  ) {
    for (const t of Object.keys(BUILTIN_CHAINS) as IptablesTable[]) this.tables.set(t, freshTable(t));
  }

  restore(text: string): Promise<void> {
    this.restores.push(text);
    try {
      this.apply(text);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private apply(text: string): void {
    const lines = text.split('\n');
    let table: IptablesTable | undefined;
    let work: TableState | undefined;
    const fail = (n: number, why: string): never => {
      throw new KubeRouterError(ErrorCode.RestoreFailed, `fake iptables-restore failed at line ${n}: ${why}`, { line: n, failingLine: lines[n - 1], stderr: why });
    };
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1;
      const line = (lines[i] as string).trim();
      if (line === '' || line.startsWith('#')) continue;
      if (line.startsWith('*')) {
        const t = line.slice(1) as IptablesTable;
        if (!BUILTIN_CHAINS[t]) fail(n, `unknown table ${t}`);
        table = t;
        work = new Map([...(this.tables.get(t) as TableState)].map(([k, c]) => [k, { ...c, rules: [...c.rules] }]));
        continue;
      }
      if (!table || !work) fail(n, 'no table given');
      if (!table || !work) return;
      if (line === 'COMMIT') {
        this.checkReferences(work, n, fail);
        this.tables.set(table, work);
        table = undefined;
        work = undefined;
        continue;
      }
      if (line.startsWith(':')) {
        const [name = '', policy = '-'] = line.slice(1).split(/\s+/);
        const existing = work.get(name);
        const builtin = BUILTIN_CHAINS[table].includes(name);
        if (builtin) {
          if (policy !== '-') (existing as Chain).policy = policy;
          (existing as Chain).rules = []; // a built-in chain named in --noflush input is flushed too
        } else if (existing) existing.rules = [];
        else work.set(name, { rules: [] });
        continue;
      }
      const words = splitRuleWords(line);
      const [op, chainName = ''] = words;
      const chain = work.get(chainName);
      switch (op) {
        case '-N':
          if (chain) fail(n, `chain ${chainName} already exists`);
          work.set(chainName, { rules: [] });
          break;
        case '-X':
          if (!chain) fail(n, `no chain ${chainName}`);
          if (BUILTIN_CHAINS[table].includes(chainName)) fail(n, `cannot delete built-in chain ${chainName}`);
          if (chain && chain.rules.length > 0) fail(n, `chain ${chainName} is not empty`);
          for (const [other, c] of work) if (other !== chainName && c.rules.some((r) => jumpTarget(splitRuleWords(r)) === chainName)) fail(n, `chain ${chainName} is referenced by ${other}`);
          work.delete(chainName);
          break;
        case '-F':
          if (!chain) fail(n, `no chain ${chainName}`);
          (chain as Chain).rules = [];
          break;
        case '-A':
        case '-I':
        case '-D': {
          if (!chain) fail(n, `no chain ${chainName}`);
          let rest = words.slice(2);
          let pos = op === '-I' ? 1 : 0;
          if (op === '-I' && rest[0] !== undefined && /^\d+$/.test(rest[0])) {
            pos = Number(rest[0]);
            rest = rest.slice(1);
          }
          const target = jumpTarget(rest);
          if (target !== undefined && !BUILTIN_TARGETS.has(target) && !work.has(target)) fail(n, `Couldn't load target \`${target}'`);
          if (target === 'REJECT' && rest.includes('tcp-reset') && !(rest.includes('-p') && rest[rest.indexOf('-p') + 1] === 'tcp')) fail(n, 'REJECT --reject-with tcp-reset needs -p tcp');
          const rule = normalise(rest);
          const c = chain as Chain;
          if (op === '-A') c.rules.push(rule);
          else if (op === '-I') {
            if (pos < 1 || pos > c.rules.length + 1) fail(n, `index of insertion too big`);
            c.rules.splice(pos - 1, 0, rule);
          } else {
            const idx = c.rules.indexOf(rule);
            if (idx < 0) fail(n, `Bad rule (does a matching rule exist in that chain?)`);
            c.rules.splice(idx, 1);
          }
          break;
        }
        case undefined:
        default:
          fail(n, `unknown command ${op ?? ''}`);
      }
    }
    if (table) fail(lines.length, 'COMMIT expected at end of input');
  }

  private checkReferences(work: TableState, n: number, fail: (n: number, why: string) => never): void {
    for (const [name, c] of work) {
      for (const r of c.rules) {
        const t = jumpTarget(splitRuleWords(r));
        if (t !== undefined && !BUILTIN_TARGETS.has(t) && !work.has(t)) fail(n, `chain ${name} jumps to missing chain ${t}`);
      }
    }
  }

  save(table: IptablesTable): Promise<string> {
    const t = this.tables.get(table) as TableState;
    const out = [`*${table}`];
    for (const [name, c] of t) out.push(`:${name} ${c.policy ?? '-'} [0:0]`);
    for (const [name, c] of t) for (const r of c.rules) out.push(`-A ${name} ${r}`);
    out.push('COMMIT', '');
    return Promise.resolve(out.join('\n'));
  }

  /** Rules of one chain, for assertions. Undefined when the chain does not exist. */
  rules(table: IptablesTable, chain: string): readonly string[] | undefined {
    return this.tables.get(table)?.get(chain)?.rules;
  }

  chains(table: IptablesTable): string[] {
    return [...(this.tables.get(table)?.keys() ?? [])];
  }
}
