import type { Family } from '../util/ip.js';
import type { DesiredFamily } from './model/tracker.js';
import type { FilterPacket, FilterVerdict } from './evaluate.js';
import type { RuleOrigin } from './model/rules.js';

export interface FirewallSyncResult {
  readonly mode: 'full' | 'partial' | 'noop';
  /** Lines written (restore lines for iptables and ipset, script lines for nft). */
  readonly writes: number;
  /** readMs: reading the kernel back (full syncs); rulesMs: iptables-restore or the nft transaction; setsMs: ipset restores. */
  readonly timings: { readonly readMs: number; readonly rulesMs: number; readonly setsMs: number };
}

/** One family's firewall in the kernel: iptables + ipset, or one nftables table. Same model, same sync contract. */
export interface FirewallBackend {
  readonly kind: 'iptables' | 'nftables';
  readonly family: Family;
  /**
   * `touched`: set entries that may have changed since the last sync (ignored on a full sync).
   * `chainsChanged`: whether the chain model was re-rendered. A full sync (`forceFull`, the first, any
   * after a failure) reads the kernel back, repairs what differs and writes nothing when nothing does.
   */
  sync(model: DesiredFamily, touched: ReadonlyMap<string, ReadonlySet<string>>, chainsChanged: boolean, forceFull: boolean): Promise<FirewallSyncResult>;
  /**
   * The sync about to run is full when `forceFull` or nothing is applied yet: its read of the kernel
   * starts now, while the model is computed (the tools run beside our thread); the next `sync` uses it.
   */
  prefetch(forceFull: boolean): void;
  invalidate(): void;
  /**
   * What our objects in the kernel do with one packet, read back from the kernel now (explain): the
   * firewall's part of the verdict, with every rule that matched (`CHAIN: rule`).
   */
  kernelView(): Promise<(p: FilterPacket) => FilterVerdict>;
  /** The policy rule a rule of ours, as `kernelView` reports it matched, compiles (explain). */
  ruleOrigin(model: DesiredFamily, chain: string, rule: string): RuleOrigin | undefined;
}
