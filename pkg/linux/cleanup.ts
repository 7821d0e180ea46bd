import { isOwnedChain, isOwnedIpset, isOwnedLink, isUpstreamEgressRule, isUpstreamForwardRule, isUpstreamTunnel, OWNED_NFT_TABLES } from './owned.js';
import type { Ipset } from './ipset/types.js';
import { renderDestroy } from './ipset/render.js';
import type { Iptables, IptablesTable } from './iptables/types.js';
import { ruleTarget } from './iptables/types.js';
import { parseSave } from './iptables/save.js';
import type { Nftables } from './nftables/types.js';
import type { Netlink, NetOp } from './netlink/types.js';
import type { Ipvs } from './ipvs/types.js';
import { isOwnedNexthop, KUBE_ROUTER_RT_PROTO } from './netlink/types.js';
import { assignFwmarks } from './ipvs/dsr-marks.js';
import { ErrorCode, isKubeRouterError } from '../util/errors.js';

const TABLES: readonly IptablesTable[] = ['filter', 'nat', 'mangle', 'raw'];

/**
 * Removes our chains and the jumps to them from chains that are not ours, one `--noflush` restore per
 * table. Nothing else in the table is rewritten.
 */
export async function cleanupIptables(ipt: Iptables): Promise<number> {
  let removed = 0;
  for (const table of TABLES) {
    const saved = parseSave(await ipt.save(table));
    const ours = new Set([...saved.chains.keys()].filter(isOwnedChain));
    const jumps: string[] = [];
    // Upstream kube-router's router rules written straight into the built-in chains.
    if (table === 'filter') for (const r of saved.chains.get('FORWARD') ?? []) if (isUpstreamForwardRule(r)) jumps.push(`-D FORWARD ${r}`);
    if (table === 'nat') for (const r of saved.chains.get('POSTROUTING') ?? []) if (isUpstreamEgressRule(r)) jumps.push(`-D POSTROUTING ${r}`);
    for (const [chain, rules] of saved.chains) {
      if (ours.has(chain)) continue;
      for (const rule of rules) {
        const target = ruleTarget(rule);
        if (target !== undefined && ours.has(target)) jumps.push(`-D ${chain} ${rule}`);
      }
    }
    if (ours.size === 0 && jumps.length === 0) continue;
    const names = [...ours].sort();
    const text = [`*${table}`, ...jumps, ...names.map((c) => `-F ${c}`), ...names.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
    await ipt.restore(text);
    removed += names.length;
  }
  return removed;
}

export async function cleanupIpsets(ipset: Ipset): Promise<number> {
  const saved = (await ipset.save()).filter((s) => isOwnedIpset(s.name));
  if (saved.length === 0) return 0;
  // A list:set goes before the sets it holds (the kernel refuses to destroy a set in use).
  const ours = saved.sort((a, b) => Number(a.type !== 'list:set') - Number(b.type !== 'list:set') || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((s) => s.name);
  await ipset.restore(renderDestroy(ours));
  return ours.length;
}

export async function cleanupNftables(nft: Nftables): Promise<number> {
  const present = await nft.listTables();
  const ours = present.filter((t) => OWNED_NFT_TABLES.some((o) => o.family === t.family && o.name === t.name));
  if (ours.length > 0) await nft.apply(ours.map((t) => `delete table ${t.family} ${t.name}`).join('\n') + '\n');
  return ours.length;
}

/**
 * Upstream's `kube-router` table (77) and DSR tables (78 `kube-router-dsr`, 79 `external_ip`): their
 * rules are ours (routes there carry our protocol anyway).
 */
const OWNED_RULE_TABLES: readonly number[] = [77, 78, 79];

/**
 * Our routes (by protocol number, every table), our nexthop objects (protocol and id range, after
 * the routes through them), our policy rules (by table) and our links (by name).
 */
export async function cleanupNetlink(nl: Netlink): Promise<number> {
  const ops: NetOp[] = [];
  for (const family of [4, 6] as const) {
    for (const route of await nl.routes(family, { table: 'all', protocol: KUBE_ROUTER_RT_PROTO })) ops.push({ op: 'route-delete', route });
    for (const rule of await nl.rules(family)) if (OWNED_RULE_TABLES.includes(rule.table)) ops.push({ op: 'rule-delete', rule });
  }
  const nexthops = await nl.nexthops().catch((e: unknown) => {
    if (isKubeRouterError(e, ErrorCode.Unsupported)) return [];
    throw e;
  });
  for (const n of nexthops) if (isOwnedNexthop(n)) ops.push({ op: 'nexthop-delete', id: n.id });
  for (const l of await nl.links()) if (isOwnedLink(l) || isUpstreamTunnel(l)) ops.push({ op: 'link-delete', name: l.name });
  if (ops.length > 0) await nl.apply(ops);
  return ops.length;
}

/** Sets that record the IPVS services we created (`address,proto:port`), per family. */
export const IPVS_OWNERSHIP_SETS = ['kube-router-svip-prt', 'inet6:kube-router-svip-prt'] as const;

/**
 * The IPVS services we created, and no other (upstream flushes all of IPVS): those recorded in our
 * svip-prt sets. Runs before the sets are destroyed.
 */
export async function cleanupIpvs(ipvs: Ipvs, ipset: Ipset): Promise<number> {
  const sets = await ipset.save();
  const owned = new Set(sets.filter((s) => (IPVS_OWNERSHIP_SETS as readonly string[]).includes(s.name)).flatMap((s) => s.entries));
  // DSR services are found by mark: ours are the marks of the frontends recorded in kube-router-dsr.
  const marks = new Set(assignFwmarks(sets.find((s) => s.name === 'kube-router-dsr')?.entries ?? []).values());
  const ours = (await ipvs.services()).filter((s) => ('fwmark' in s.id ? s.id.family === 4 && marks.has(s.id.fwmark) : owned.has(`${s.id.address},${s.id.protocol}:${s.id.port}`)));
  const res = await ipvs.apply(ours.map((s) => ({ op: 'delete-service' as const, id: s.id })));
  const failed = res.filter((r) => r !== undefined);
  if (failed[0]) throw failed[0];
  return ours.length;
}
