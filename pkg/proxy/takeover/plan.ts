/**
 * Pure: what another service proxy left on this node, and what we remove or adopt when we start.
 *
 * - **kube-proxy** (iptables, IPVS and nftables modes): its `kube-proxy` nftables tables, its iptables
 *   chains (fixed names and the hashed `KUBE-SVC-…`/`KUBE-SEP-…` families, never the kubelet's
 *   `KUBE-FIREWALL`, `KUBE-KUBELET-CANARY`, `KUBE-MARK-DROP`), its IPVS-mode ipsets and `kube-ipvs0`.
 *   Removed with --cleanup-kube-proxy; otherwise named in one warning (both proxies would answer for
 *   the same Service addresses, whichever hook sees a packet first winning).
 * - **Upstream kube-router's proxy**: its IPVS layout uses the names ours does (kube-dummy-if, the
 *   kube-router-svip* sets, KUBE-ROUTER-SERVICES/-HAIRPIN), so the IPVS backend adopts those and
 *   reconciles them like its own; what only upstream writes (its masquerade rules straight in nat
 *   POSTROUTING, signed with an empty comment; its jumps into the shared chains, worded differently
 *   from ours; the DSR policy-routing tables 78 and 79) is removed. The nftables backend removes all
 *   of it, and the IPVS backend removes our own nftables tables: switching backends leaves nothing behind.
 */
import type { IptablesTable } from '../../linux/iptables/types.js';
import { ruleTarget, splitRuleWords } from '../../linux/iptables/types.js';
import type { SavedTable } from '../../linux/iptables/save.js';
import type { RouteRule } from '../../linux/netlink/types.js';
import type { Family } from '../../util/ip.js';
import { CHAIN, DSR_RULE_PRIORITY, DSR_TABLE, DUMMY_IF, jumpRules, SET_BASE, setName } from '../ipvs/desired.js';
import { TABLE as NFT_PROXY_TABLE } from '../nft/layout.js';

export interface NodeProxyState {
  readonly nftTables: readonly { readonly family: string; readonly name: string }[];
  readonly iptables: readonly { readonly family: Family; readonly table: IptablesTable; readonly saved: SavedTable }[];
  readonly ipsets: readonly string[];
  readonly links: readonly string[];
  readonly rules: readonly RouteRule[];
  /** The marks of the DSR frontends recorded in our `kube-router-dsr` set (their rules are ours). */
  readonly dsrMarks: readonly number[];
}

export interface TakeoverOptions {
  readonly backend: 'ipvs' | 'nftables';
  readonly cleanupKubeProxy: boolean;
}

export type ForeignOwner = 'kube-proxy' | 'kube-router';

export interface FoundObject {
  readonly owner: ForeignOwner;
  /** For the log: `iptables v4 nat chain KUBE-SERVICES`, `ipset KUBE-CLUSTER-IP`, `link kube-ipvs0`. */
  readonly what: string;
  readonly action: 'remove' | 'adopt' | 'leave';
}

export interface TakeoverPlan {
  readonly found: readonly FoundObject[];
  readonly nft: readonly string[];
  /** `iptables-restore --noflush` text per family and table: rule deletions, then chain flushes and deletions. */
  readonly iptables: readonly { readonly family: Family; readonly table: IptablesTable; readonly text: string }[];
  /** Destroyed after the rules that use them are gone. */
  readonly ipsets: readonly string[];
  /** Our IPVS ownership sets are among the sets to destroy: delete the IPVS services they record first. */
  readonly ipvsServices: boolean;
  readonly links: readonly string[];
  readonly rules: readonly RouteRule[];
}

const KUBE_PROXY_CHAINS: ReadonlySet<string> = new Set([
  'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-FORWARD',
  'KUBE-PROXY-FIREWALL', 'KUBE-PROXY-CANARY', 'KUBE-LOAD-BALANCER', 'KUBE-NODE-PORT', 'KUBE-SOURCE-RANGES-FIREWALL',
  'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER',
]);
/** Per-service and per-endpoint chains: a prefix and 16 characters of a hash. */
const KUBE_PROXY_CHAIN_PATTERN = /^KUBE-(SVC|SVL|SEP|FW|EXT|XLB)-[A-Z0-9]{16}$/;
const KUBE_PROXY_IPSET_PATTERN = /^KUBE-(6-)?(CLUSTER-IP|LOOP-BACK|EXTERNAL-IP|EXTERNAL-IP-LOCAL|LOAD-BALANCER|LOAD-BALANCER-LOCAL|LOAD-BALANCER-FW|LOAD-BALANCER-SOURCE-IP|LOAD-BALANCER-SOURCE-CIDR|NODE-PORT-TCP|NODE-PORT-LOCAL-TCP|NODE-PORT-UDP|NODE-PORT-LOCAL-UDP|NODE-PORT-SCTP-HASH|NODE-PORT-LOCAL-SCTP-HASH|HEALTH-CHECK-NODE-PORT|IPVS-IPS)$/;
const KUBE_PROXY_NFT_TABLE = 'kube-proxy';
const KUBE_PROXY_LINK = 'kube-ipvs0';

/** Chains of our (and upstream's) IPVS layout. */
const IPVS_CHAINS: ReadonlySet<string> = new Set(Object.values(CHAIN));
/** The DSR policy-routing tables upstream uses (`kube-router-dsr`, `external_ip`). */
export const DSR_TABLES: readonly number[] = [DSR_TABLE, 79];

export function isKubeProxyChain(name: string): boolean {
  return KUBE_PROXY_CHAINS.has(name) || KUBE_PROXY_CHAIN_PATTERN.test(name);
}

export function isKubeProxyIpset(name: string): boolean {
  return KUBE_PROXY_IPSET_PATTERN.test(name);
}

/** Upstream's masquerade of IPVS NAT traffic, written straight into nat POSTROUTING with an empty comment. */
export function isUpstreamMasquerade(rule: string): boolean {
  const w = splitRuleWords(rule);
  const has = (...seq: string[]): boolean => w.some((_, i) => seq.every((s, k) => w[i + k] === s));
  return has('-m', 'ipvs') && has('--vdir', 'ORIGINAL') && has('--vmethod', 'MASQ') && has('--comment', '') && (has('-j', 'SNAT') || has('-j', 'MASQUERADE'));
}

const ipvsSetNames = (): string[] => ([4, 6] as const).flatMap((f) => Object.values(SET_BASE).map((b) => setName(b, f)));

export function planTakeover(state: NodeProxyState, opts: TakeoverOptions): TakeoverPlan {
  const found: FoundObject[] = [];
  const kp = opts.cleanupKubeProxy ? 'remove' : 'leave';
  const nft: string[] = [];
  for (const t of state.nftTables) {
    if (t.name === KUBE_PROXY_NFT_TABLE && (t.family === 'ip' || t.family === 'ip6')) {
      found.push({ owner: 'kube-proxy', what: `nftables table ${t.family} ${t.name}`, action: kp });
      if (opts.cleanupKubeProxy) nft.push(`delete table ${t.family} ${t.name}`);
    } else if (opts.backend === 'ipvs' && t.name === NFT_PROXY_TABLE && (t.family === 'ip' || t.family === 'ip6')) {
      // Ours, from the nftables backend this node ran before.
      nft.push(`delete table ${t.family} ${t.name}`);
    }
  }

  const iptables: { family: Family; table: IptablesTable; text: string }[] = [];
  for (const { family, table, saved } of state.iptables) {
    const ours = jumpRules(family);
    const ourJumps = new Set([ours.filterInput, ours.natHairpin, ours.natMasquerade]);
    const drop = new Set<string>();
    for (const chain of saved.chains.keys()) {
      if (isKubeProxyChain(chain)) {
        found.push({ owner: 'kube-proxy', what: `iptables v${family} ${table} chain ${chain}`, action: kp });
        if (opts.cleanupKubeProxy) drop.add(chain);
      } else if (IPVS_CHAINS.has(chain) && opts.backend === 'nftables') {
        found.push({ owner: 'kube-router', what: `iptables v${family} ${table} chain ${chain}`, action: 'remove' });
        drop.add(chain);
      } else if (IPVS_CHAINS.has(chain)) found.push({ owner: 'kube-router', what: `iptables v${family} ${table} chain ${chain}`, action: 'adopt' });
    }
    const deletes: string[] = [];
    for (const [chain, rules] of saved.chains) {
      if (drop.has(chain)) continue;
      for (const rule of rules) {
        const target = ruleTarget(rule);
        if (target !== undefined && drop.has(target)) deletes.push(`-D ${chain} ${rule}`);
        else if (table === 'nat' && chain === 'POSTROUTING' && isUpstreamMasquerade(rule)) {
          found.push({ owner: 'kube-router', what: `iptables v${family} nat POSTROUTING rule ${rule}`, action: 'remove' });
          deletes.push(`-D ${chain} ${rule}`);
        } else if (target !== undefined && IPVS_CHAINS.has(target) && !IPVS_CHAINS.has(chain) && !ourJumps.has(rule)) {
          // Upstream's jump into a chain we share: ours is written by the IPVS backend itself.
          found.push({ owner: 'kube-router', what: `iptables v${family} ${table} ${chain} rule ${rule}`, action: 'remove' });
          deletes.push(`-D ${chain} ${rule}`);
        }
      }
    }
    if (deletes.length === 0 && drop.size === 0) continue;
    const names = [...drop].sort();
    iptables.push({ family, table, text: [`*${table}`, ...deletes, ...names.map((c) => `-F ${c}`), ...names.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n') });
  }

  const ipsets: string[] = [];
  const ipvsSets = new Set(ipvsSetNames());
  for (const name of state.ipsets) {
    if (isKubeProxyIpset(name)) {
      found.push({ owner: 'kube-proxy', what: `ipset ${name}`, action: kp });
      if (opts.cleanupKubeProxy) ipsets.push(name);
    } else if (ipvsSets.has(name)) {
      found.push({ owner: 'kube-router', what: `ipset ${name}`, action: opts.backend === 'nftables' ? 'remove' : 'adopt' });
      if (opts.backend === 'nftables') ipsets.push(name);
    }
  }

  const links: string[] = [];
  for (const name of state.links) {
    if (name === KUBE_PROXY_LINK) {
      found.push({ owner: 'kube-proxy', what: `link ${name}`, action: kp });
      if (opts.cleanupKubeProxy) links.push(name);
    } else if (name === DUMMY_IF) {
      found.push({ owner: 'kube-router', what: `link ${name}`, action: opts.backend === 'nftables' ? 'remove' : 'adopt' });
      if (opts.backend === 'nftables') links.push(name);
    }
  }

  // DSR rules: those of our recorded DSR frontends stay with the IPVS backend (its sync owns them); any
  // other rule to upstream's DSR tables goes.
  const ours = new Set(opts.backend === 'ipvs' ? state.dsrMarks : []);
  const rules = state.rules.filter((r) => DSR_TABLES.includes(r.table) && !(r.table === DSR_TABLE && r.priority === DSR_RULE_PRIORITY && r.fwmark !== undefined && ours.has(r.fwmark)));
  for (const r of rules) found.push({ owner: 'kube-router', what: `ip rule${r.fwmark !== undefined ? ` fwmark ${r.fwmark}` : ''} lookup ${r.table} (v${r.family})`, action: 'remove' });

  return { found, nft, iptables, ipsets: ipsets.sort(), ipvsServices: ipsets.some((s) => ipvsSets.has(s)), links, rules };
}

/** Nothing to do: no writes planned. */
export function isEmptyPlan(p: TakeoverPlan): boolean {
  return p.nft.length + p.iptables.length + p.ipsets.length + p.links.length + p.rules.length === 0;
}
