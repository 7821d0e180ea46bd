import type { PodInfo } from '../k8s/kinds/pod.js';
import type { FilterVerdict } from './evaluate.js';
import { CHAINS, TOP_CHAINS } from './model/names.js';
import type { RuleOrigin } from './model/rules.js';

/** One side of a connection: a pod (by `ns/name` or its address) or a bare address. */
export interface ExplainEnd {
  /** What the user named. */
  readonly label: string;
  readonly ip: string;
  readonly pod?: PodInfo;
}

/** How one direction of the connection is judged. */
export interface ExplainRow {
  readonly direction: 'egress' | 'ingress';
  /** The pod this direction belongs to (`ns/name`), or the address when it is not a pod. */
  readonly pod: string;
  /** allow / deny: judged on this node by what is in its kernel; the others say why not. */
  readonly verdict: 'allow' | 'deny' | 'not judged here' | 'not policed' | 'not reached';
  /** The tier that decided: a ClusterNetworkPolicy's (Admin, Baseline), NetworkPolicy, or default. */
  readonly tier: 'Admin' | 'NetworkPolicy' | 'Baseline' | 'default';
  readonly decidedBy: string;
  readonly policy?: string;
  /** `ingress[0]`: the rule of the policy's spec that allowed it. */
  readonly rule?: string;
  /** Every rule of ours that matched, `CHAIN: rule` as the kernel holds it. */
  readonly matched: readonly string[];
}

export interface ExplainInput {
  readonly node: string;
  readonly from: ExplainEnd;
  readonly to: ExplainEnd;
  readonly verdict: FilterVerdict;
  /** Policy chain → the policy and direction it judges. */
  readonly policyChains: ReadonlyMap<string, { readonly policy: string; readonly direction: 'ingress' | 'egress'; readonly tier?: 'Admin' | 'Baseline' }>;
  /** The policy rule an allow rule in a chain compiles, if it is one. */
  readonly originOf: (chain: string, rule: string) => RuleOrigin | undefined;
}

const isReturn = (rule: string): boolean => /(?:-j RETURN|\breturn)$/.test(rule);
const TOP: readonly string[] = Object.values(TOP_CHAINS);

function split(m: string): { chain: string; rule: string } {
  const at = m.indexOf(': ');
  return { chain: m.slice(0, at), rule: m.slice(at + 2) };
}

/**
 * Which policy, tier and rule decided each direction of a connection, from what the kernel's rules
 * did with its first packet (`verdict.matched`). Pure. Egress is judged on the source pod's node,
 * ingress on the destination pod's; this node can only speak for the sides that are its pods.
 */
export function explainRows(x: ExplainInput): ExplainRow[] {
  const matched = x.verdict.matched.map(split);
  const rows: ExplainRow[] = [];
  let egressDenied = false;
  for (const direction of ['egress', 'ingress'] as const) {
    const end = direction === 'egress' ? x.from : x.to;
    const pod = end.pod;
    const who = pod ? `${pod.namespace}/${pod.name}` : end.label;
    const base = { direction, pod: who, tier: 'default' as const };
    if (!pod) {
      rows.push({ ...base, verdict: 'not policed', decidedBy: `${end.ip} is not a pod`, matched: [] });
      continue;
    }
    if (pod.hostNetwork) {
      rows.push({ ...base, verdict: 'not policed', decidedBy: 'a host-network pod is never policed', matched: [] });
      continue;
    }
    if (pod.nodeName !== x.node) {
      rows.push({ ...base, verdict: 'not judged here', decidedBy: `judged on ${pod.nodeName ?? 'its node'}`, matched: [] });
      continue;
    }
    const mine = matched.filter((m) => x.policyChains.get(m.chain)?.direction === direction);
    const lines = mine.map((m) => `${m.chain}: ${m.rule}`);
    // The first rule with an origin that decides: a cluster policy's Accept or Deny, or a NetworkPolicy allow.
    let decided = false;
    for (const m of mine) {
      const o = x.originOf(m.chain, m.rule);
      if (!o || o.action === 'Pass') continue;
      const tier = o.tier ?? 'NetworkPolicy';
      const what = `${o.tier ? `ClusterNetworkPolicy ${o.policy}` : o.policy} ${o.direction}[${o.rule}]${o.action ? ` (${o.action})` : ''}`;
      const deny = o.action === 'Deny';
      rows.push({ ...base, verdict: deny ? 'deny' : 'allow', tier, decidedBy: `${deny ? 'denied' : 'allowed'} by ${what}`, policy: o.policy, rule: `${o.direction}[${o.rule}]`, matched: lines });
      if (deny && direction === 'egress') egressDenied = true;
      decided = true;
      break;
    }
    if (decided) continue;
    const npChains = mine.filter((m) => x.policyChains.get(m.chain)?.tier === undefined);
    if (npChains.length > 0) {
      const isolatedBy = [...new Set(npChains.map((m) => x.policyChains.get(m.chain)?.policy))].join(', ');
      rows.push({ ...base, verdict: 'deny', tier: 'NetworkPolicy', decidedBy: `isolated by ${isolatedBy}; no rule of theirs allows it`, policy: isolatedBy, matched: lines });
      if (direction === 'egress') egressDenied = true;
      continue;
    }
    if (direction === 'ingress' && egressDenied) {
      rows.push({ ...base, verdict: 'not reached', decidedBy: 'refused on egress first', matched: [] });
      continue;
    }
    // No policy chain of this direction was entered: what our rules did instead.
    const all = x.verdict.matched;
    const top = matched.find((m) => TOP.includes(m.chain) && isReturn(m.rule));
    const early = matched.find((m) => (m.chain === CHAINS.ingress || m.chain === CHAINS.egress) && isReturn(m.rule));
    const toReject = matched.find((m) => TOP.includes(m.chain) && m.rule.includes(CHAINS.reject));
    if (toReject && x.verdict.action !== 'accept') rows.push({ ...base, verdict: 'deny', decidedBy: 'default deny (--netpol-default-deny): the address is not a pod this node has programmed yet', matched: all });
    else if (top && /ESTABLISHED|established/.test(top.rule)) rows.push({ ...base, verdict: 'allow', decidedBy: 'part of an established connection', matched: all });
    else if (top) rows.push({ ...base, verdict: 'allow', decidedBy: 'a Service address, exempt at INPUT: judged against the endpoint after the proxy', matched: all });
    else if (early) rows.push({ ...base, verdict: 'allow', decidedBy: 'ICMP that keeps networking working, or traffic from the node itself', matched: all });
    else rows.push({ ...base, verdict: 'allow', decidedBy: `no policy selects ${who} for ${direction}`, matched: all });
  }
  // The kernel's rules are the authority: if they refused and no row says why, say which rule did.
  if (x.verdict.action !== 'accept' && !rows.some((r) => r.verdict === 'deny')) {
    const i = rows.map((r) => r.verdict).lastIndexOf('allow');
    const last = x.verdict.matched[x.verdict.matched.length - 1] ?? '';
    const refused = rows[i];
    if (refused) rows[i] = { ...refused, verdict: 'deny', tier: 'default', decidedBy: `refused by ${last}`, matched: x.verdict.matched };
  }
  return rows;
}
