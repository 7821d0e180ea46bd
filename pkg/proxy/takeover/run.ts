/**
 * Reads what another service proxy left on this node, plans (./plan.ts) and removes it, before our
 * first sync. Every step is its own: one that fails is logged and the others still run (the daemon
 * starts either way; a leftover is a warning, not an outage).
 */
import { cleanupIpvs } from '../../linux/cleanup.js';
import { renderDestroy } from '../../linux/ipset/render.js';
import type { Ipset } from '../../linux/ipset/types.js';
import { parseSave } from '../../linux/iptables/save.js';
import type { Iptables, IptablesTable } from '../../linux/iptables/types.js';
import type { Ipvs } from '../../linux/ipvs/types.js';
import type { Netlink, NetOp } from '../../linux/netlink/types.js';
import type { Nftables } from '../../linux/nftables/types.js';
import { errorMessage } from '../../util/errors.js';
import type { Family } from '../../util/ip.js';
import type { Logger } from '../../util/logger.js';
import { assignFwmarks, SET_BASE } from '../ipvs/desired.js';
import { isEmptyPlan, planTakeover, type NodeProxyState, type TakeoverOptions, type TakeoverPlan } from './plan.js';

export interface TakeoverDeps {
  readonly nft: Nftables;
  readonly iptables: Readonly<Partial<Record<Family, Iptables>>>;
  readonly ipset: Ipset;
  readonly netlink: Netlink;
  /** Opens IPVS when the kernel has it (services recorded in our ownership sets are deleted with the sets). */
  readonly openIpvs: () => Promise<Ipvs | undefined>;
  readonly logger: Logger;
}

const TABLES: readonly IptablesTable[] = ['filter', 'nat', 'mangle'];
/** How many objects one log line names before it says "and N more". */
const NAMED = 12;

export async function readNodeProxyState(deps: TakeoverDeps, families: readonly Family[]): Promise<NodeProxyState> {
  const iptables: NodeProxyState['iptables'][number][] = [];
  for (const f of families) {
    const ipt = deps.iptables[f];
    if (!ipt) continue;
    for (const table of TABLES) iptables.push({ family: f, table, saved: parseSave(await ipt.save(table)) });
  }
  const rules = [];
  for (const f of families) rules.push(...(await deps.netlink.rules(f)));
  const sets = await deps.ipset.save();
  return {
    nftTables: await deps.nft.listTables(),
    iptables,
    ipsets: sets.map((s) => s.name),
    links: (await deps.netlink.links()).map((l) => l.name),
    rules,
    dsrMarks: [...assignFwmarks(sets.find((s) => s.name === SET_BASE.dsr)?.entries ?? []).values()],
  };
}

function named(list: readonly string[]): string {
  return list.length <= NAMED ? list.join(', ') : `${list.slice(0, NAMED).join(', ')} and ${list.length - NAMED} more`;
}

/** Plans and applies; returns the plan (for tests and the log). */
export async function takeOver(deps: TakeoverDeps, families: readonly Family[], opts: TakeoverOptions): Promise<TakeoverPlan> {
  const plan = planTakeover(await readNodeProxyState(deps, families), opts);
  const left = plan.found.filter((f) => f.owner === 'kube-proxy' && f.action === 'leave').map((f) => f.what);
  if (left.length > 0) deps.logger.warn(`kube-proxy's objects are on this node and were left in place (--cleanup-kube-proxy removes them): ${named(left)}`, { count: left.length });
  if (isEmptyPlan(plan)) return plan;
  const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      deps.logger.warn('taking over the node: a step failed; the rest went on', { what, error: errorMessage(e) });
    }
  };
  if (plan.nft.length > 0) await step('nftables tables', () => deps.nft.apply(plan.nft.join('\n') + '\n'));
  for (const t of plan.iptables) await step(`iptables v${t.family} ${t.table}`, () => (deps.iptables[t.family] as Iptables).restore(t.text));
  if (plan.ipvsServices) {
    await step('IPVS services', async () => {
      const ipvs = await deps.openIpvs();
      if (!ipvs) return;
      try {
        await cleanupIpvs(ipvs, deps.ipset);
      } finally {
        ipvs.close();
      }
    });
  }
  if (plan.ipsets.length > 0) await step('ipsets', () => deps.ipset.restore(renderDestroy(plan.ipsets)));
  const ops: NetOp[] = [...plan.rules.map((rule): NetOp => ({ op: 'rule-delete', rule })), ...plan.links.map((name): NetOp => ({ op: 'link-delete', name }))];
  if (ops.length > 0) await step('links and policy rules', () => deps.netlink.apply(ops));
  const removed = plan.found.filter((f) => f.action === 'remove');
  const adopted = plan.found.filter((f) => f.action === 'adopt');
  deps.logger.info('took over the node from an earlier service proxy', {
    removed: removed.length,
    adopted: adopted.length,
    kubeProxy: removed.filter((f) => f.owner === 'kube-proxy').length,
    objects: named(removed.map((f) => f.what)),
  });
  return plan;
}
