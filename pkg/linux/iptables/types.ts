import type { Family } from '../../util/ip.js';

export type IptablesTable = 'filter' | 'nat' | 'mangle' | 'raw';
export type IptablesVariant = 'legacy' | 'nft';

/** One family of iptables through its restore/save tools: the only way we write iptables. */
export interface Iptables {
  readonly family: Family;
  readonly variant: IptablesVariant;
  /**
   * `iptables-restore --noflush`: chains named in the input are created or flushed, everything else is
   * left as it is. Each table commits atomically; a failure throws `restore-failed` with the line.
   */
  restore(text: string): Promise<void>;
  /** `iptables-save -t TABLE`. Expensive at scale: never on every sync. */
  save(table: IptablesTable): Promise<string>;
}

export const BUILTIN_CHAINS: Readonly<Record<IptablesTable, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/** Targets that are extensions, not chains. */
export const BUILTIN_TARGETS: ReadonlySet<string> = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'REJECT', 'LOG', 'NFLOG', 'MARK', 'CONNMARK', 'MASQUERADE', 'SNAT', 'DNAT',
  'REDIRECT', 'TCPMSS', 'CT', 'NOTRACK', 'TRACE', 'SET', 'CLASSIFY', 'TPROXY',
]);

/** Splits a rule into words the way iptables-restore does: whitespace, with "double quoted" words. */
export function splitRuleWords(text: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string));
  return words;
}

/** The target of a rule (`-j X` or `-g X`), or undefined. */
export function ruleTarget(rule: string): string | undefined {
  const w = splitRuleWords(rule);
  const j = w.findIndex((x) => x === '-j' || x === '-g');
  return j >= 0 ? w[j + 1] : undefined;
}
