/** One table of `iptables-save` output: every chain declared in it with its rules in order. */
export interface SavedTable {
  /** Rules are in `iptables-save` form without the `-A CHAIN ` prefix. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
}

/**
 * The one parser of `iptables-save -t TABLE` text. Comment lines (`#`, with their time stamps),
 * `*table` and `COMMIT` are ignored. Pure.
 */
export function parseSave(text: string): SavedTable {
  const chains = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0] ?? '';
      if (!chains.has(name)) chains.set(name, []);
    } else if (line.startsWith('-A ')) {
      const sp = line.indexOf(' ', 3);
      if (sp < 0) continue;
      const name = line.slice(3, sp);
      const rules = chains.get(name) ?? [];
      rules.push(line.slice(sp + 1));
      chains.set(name, rules);
    }
  }
  return { chains };
}
