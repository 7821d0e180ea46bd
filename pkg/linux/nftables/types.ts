export type NftFamily = 'ip' | 'ip6' | 'inet';

export interface NftChainState {
  /** `type nat hook prerouting priority -100` for base chains. */
  readonly base?: { readonly type: string; readonly hook: string; readonly priority: number; readonly policy?: string };
  readonly ruleCount: number;
}

export interface NftSetState {
  readonly kind: 'set' | 'map';
  /** Key type, `ipv4_addr . inet_proto . inet_service`; maps add ` : verdict` or ` : ipv4_addr`. */
  readonly type: string;
  /** Canonical element texts: `198.18.0.1 . tcp . 80`, with ` : goto chain` for maps. Sorted. */
  readonly elements: readonly string[];
}

/** A counter's values. */
export interface NftCounter {
  readonly packets: number;
  readonly bytes: number;
}

export interface NftTableState {
  readonly chains: ReadonlyMap<string, NftChainState>;
  readonly sets: ReadonlyMap<string, NftSetState>;
}

/** nftables through `nft -f -`: every apply is one kernel transaction, all or nothing. */
export interface Nftables {
  apply(script: string): Promise<void>;
  /** Structured state of one table; undefined when it does not exist. Expensive at scale. */
  dump(family: NftFamily, table: string): Promise<NftTableState | undefined>;
  listTables(): Promise<{ family: NftFamily; name: string }[]>;
  /**
   * The per-element counters of a set declared with `counter` (element text → packets, bytes);
   * undefined when the set or its table does not exist.
   */
  listSetCounters(family: NftFamily, table: string, set: string): Promise<ReadonlyMap<string, NftCounter> | undefined>;
  /** Elements of one set or map (canonical text); undefined when it or its table does not exist. Cheap for small sets. */
  listSet(family: NftFamily, table: string, set: string): Promise<string[] | undefined>;
  /**
   * Optional: get ready for fast transactions on a table (start a long-lived helper and have it read
   * one small set of the table), so the first change after a rebuild does not pay for loading it.
   */
  prepare?(family: NftFamily, table: string, smallSet: string): Promise<void>;
  /** Optional: stop a long-lived helper. */
  close?(): void;
}

/**
 * One element as canonical text: single spaces, ` . ` between concatenated parts, ` : ` before a map
 * value. Our renderers emit exactly this; this only folds white space.
 */
export function canonicalElement(text: string): string {
  return text.trim().replace(/\s+/g, ' ');
}
