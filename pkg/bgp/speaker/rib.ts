import { CidrList, cidrParts, compareIP, familyOf, type CIDR, type Family, type IP } from '../../util/ip.js';
import { Afi, AttrFlag, Safi } from '../codec/constants.js';
import type { Attribute, UpdateMessage } from '../codec/types.js';

/** One path to a prefix, as learned from a peer or originated by us. */
export interface Path {
  readonly prefix: CIDR;
  readonly nextHop: IP;
  /** AS_PATH flattened to its sequence (sets count as one hop each for length, as RFC 4271 9.1.2.2). */
  readonly asPath: readonly number[];
  readonly origin: 0 | 1 | 2;
  readonly localPref?: number;
  readonly med?: number;
  readonly communities: readonly number[];
  readonly originatorId?: IP;
  readonly clusterList?: readonly IP[];
}

export interface LearnedPath extends Path {
  /** The peer it came from (its address), its BGP identifier, and whether the session is iBGP. */
  readonly peer: IP;
  readonly peerId: IP;
  readonly ibgp: boolean;
  /** Kept through the peer's graceful restart, until it re-sends or the restart time ends. */
  readonly stale?: boolean;
}

export interface ImportPolicy {
  readonly localAs: number;
  readonly routerId: IP;
  /** Never imported: service VIP ranges and `customimportreject`; a default route never is either. */
  readonly reject: readonly CIDR[];
}

export type ImportVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Import policy (upstream's rule: never import service VIPs or a default route, nor a loop), made
 * once per policy: the reject list is parsed once, not per path.
 */
export function importFilter(pol: ImportPolicy): (p: LearnedPath) => ImportVerdict {
  const reject = new CidrList(pol.reject);
  return (p) => {
    if (p.prefix.endsWith('/0')) return { ok: false, reason: 'default route' };
    const hit = reject.overlapping(p.prefix);
    if (hit) return { ok: false, reason: `overlaps ${hit}` };
    if (!p.ibgp && p.asPath.includes(pol.localAs)) return { ok: false, reason: 'AS path loop' };
    if (p.ibgp && p.originatorId === pol.routerId) return { ok: false, reason: 'our own route reflected back (ORIGINATOR_ID)' };
    if (p.ibgp && p.clusterList?.includes(pol.routerId)) return { ok: false, reason: 'cluster list loop' };
    return IMPORTED;
  };
}

const IMPORTED: ImportVerdict = { ok: true };

/** importFilter for one path. */
export function importVerdict(p: LearnedPath, pol: ImportPolicy): ImportVerdict {
  return importFilter(pol)(p);
}

/** RFC 4271 9.1.2.2, in order: local preference, AS path length, origin, MED, eBGP over iBGP, lowest BGP identifier, lowest peer address. */
export function better(a: LearnedPath, b: LearnedPath): boolean {
  const lp = (x: LearnedPath): number => x.localPref ?? 100;
  if (lp(a) !== lp(b)) return lp(a) > lp(b);
  if (a.asPath.length !== b.asPath.length) return a.asPath.length < b.asPath.length;
  if (a.origin !== b.origin) return a.origin < b.origin;
  if ((a.asPath[0] ?? 0) === (b.asPath[0] ?? 0) && (a.med ?? 0) !== (b.med ?? 0)) return (a.med ?? 0) < (b.med ?? 0);
  if (a.ibgp !== b.ibgp) return !a.ibgp;
  if (a.peerId !== b.peerId) return compareIP(a.peerId, b.peerId) < 0;
  return compareIP(a.peer, b.peer) < 0;
}

/** One peer's accepted paths by prefix. */
export interface PeerRib {
  readonly address: IP;
  readonly adjIn: ReadonlyMap<string, LearnedPath>;
}

/**
 * Pure but for `best`: prefix `k`'s best path chosen again among `peers` (in their order, as a full
 * choice over them would), after `from`'s path to it changed. `better` orders any two paths of
 * different peers, so when `from`'s path was not the best the best is the better of the two, and
 * when no path existed only `from`'s can; otherwise every peer's path is looked at again.
 */
export function rechooseBest(best: Map<string, LearnedPath>, k: string, peers: readonly PeerRib[], from?: PeerRib): void {
  const was = best.get(k);
  if (from && (!was || was.peer !== from.address)) {
    const now = from.adjIn.get(k);
    if (now && (!was || better(now, was))) best.set(k, now);
    return;
  }
  let cur: LearnedPath | undefined;
  for (const p of peers) {
    const path = p.adjIn.get(k);
    if (path && (!cur || better(path, cur))) cur = path;
  }
  if (cur) best.set(k, cur);
  else best.delete(k);
}

/** The paths in an UPDATE from a peer: reachable ones and withdrawn prefixes (RFC 7606 treat-as-withdraw folded in). */
export function pathsOf(u: UpdateMessage, from: { readonly peer: IP; readonly peerId: IP; readonly ibgp: boolean }): { readonly reach: LearnedPath[]; readonly withdraw: CIDR[] } {
  const withdraw: CIDR[] = [...u.withdrawn];
  const mpUnreach = u.attributes.find((a) => a.type === 'mp-unreach');
  if (mpUnreach?.type === 'mp-unreach') withdraw.push(...mpUnreach.withdrawn);
  const mpReach = u.attributes.find((a) => a.type === 'mp-reach');
  const reachPrefixes: { prefix: CIDR; nextHop: IP | undefined }[] = [];
  const nh = u.attributes.find((a) => a.type === 'next-hop');
  for (const p of u.nlri) reachPrefixes.push({ prefix: p, nextHop: nh?.type === 'next-hop' ? nh.nextHop : undefined });
  if (mpReach?.type === 'mp-reach') {
    // A link-local IPv6 next hop comes second; the global one is what routes use.
    const global = mpReach.nextHops.find((x) => !x.startsWith('fe80')) ?? mpReach.nextHops[0];
    for (const p of mpReach.nlri) reachPrefixes.push({ prefix: p, nextHop: global });
  }
  if (u.treatAsWithdraw) return { reach: [], withdraw: [...withdraw, ...reachPrefixes.map((r) => r.prefix)] };
  const get = <T extends Attribute['type']>(t: T): Extract<Attribute, { type: T }> | undefined => u.attributes.find((a) => a.type === t) as Extract<Attribute, { type: T }> | undefined;
  const origin = get('origin');
  const asPath = get('as-path');
  const lp = get('local-pref');
  const med = get('med');
  const comm = get('communities');
  const orig = get('originator-id');
  const cl = get('cluster-list');
  // What every prefix of the UPDATE shares, made once (an UPDATE carries hundreds of prefixes).
  const shared = {
    asPath: asPath?.segments.flatMap((s) => (s.type === 'set' ? s.asns.slice(0, 1) : s.asns)) ?? [],
    origin: origin?.origin ?? 2,
    ...(lp ? { localPref: lp.value } : {}),
    ...(med ? { med: med.value } : {}),
    communities: comm?.communities ?? [],
    ...(orig ? { originatorId: orig.id } : {}),
    ...(cl ? { clusterList: cl.ids } : {}),
    ...from,
  };
  const reach: LearnedPath[] = [];
  for (const r of reachPrefixes) {
    if (!r.nextHop) {
      withdraw.push(r.prefix); // no usable next hop: as if withdrawn (RFC 7606 treat-as-withdraw)
      continue;
    }
    reach.push({ prefix: r.prefix, nextHop: r.nextHop, ...shared });
  }
  return { reach, withdraw };
}

/** What we send one peer for one prefix: the same fields as a path; equal keys mean equal attributes (one UPDATE carries many prefixes). */
export type OutPath = Path;

export function attrKey(p: OutPath): string {
  return JSON.stringify([familyOf(p.prefix), p.nextHop, p.asPath, p.origin, p.localPref, p.med, p.communities, p.originatorId, p.clusterList]);
}

function attributesOf(p: OutPath, family: Family, nlri: readonly CIDR[]): Attribute[] {
  const wk = AttrFlag.Transitive;
  const opt = AttrFlag.Optional;
  const attrs: Attribute[] = [
    { type: 'origin', flags: wk, origin: p.origin },
    { type: 'as-path', flags: wk, segments: p.asPath.length > 0 ? [{ type: 'sequence', asns: p.asPath }] : [] },
  ];
  if (family === 4) attrs.push({ type: 'next-hop', flags: wk, nextHop: p.nextHop });
  if (p.med !== undefined) attrs.push({ type: 'med', flags: opt, value: p.med });
  if (p.localPref !== undefined) attrs.push({ type: 'local-pref', flags: wk, value: p.localPref });
  if (p.communities.length > 0) attrs.push({ type: 'communities', flags: opt | AttrFlag.Transitive, communities: p.communities });
  if (p.originatorId) attrs.push({ type: 'originator-id', flags: opt, id: p.originatorId });
  if (p.clusterList) attrs.push({ type: 'cluster-list', flags: opt, ids: p.clusterList });
  if (family === 6) attrs.push({ type: 'mp-reach', flags: opt, afi: Afi.IPv6, safi: Safi.Unicast, nextHops: [p.nextHop], nlri });
  return attrs;
}

/**
 * The UPDATEs that take a peer from what it was sent (`before`) to what it should have (`after`):
 * withdrawals first, then announcements grouped by identical attributes, each message within the
 * 4096-byte limit. IPv6 goes in MP_REACH / MP_UNREACH (RFC 4760).
 */
/** How UPDATEs are measured: the encoded size with the session's options, and the largest allowed. */
export interface UpdateBudget {
  /** Encoded bytes of a message (Infinity when it cannot be encoded). */
  size(u: UpdateMessage): number;
  /** 4,096 (RFC 4271), or 65,535 with extended messages (RFC 8654) on both sides. */
  readonly max: number;
}

/** The bytes one prefix adds to NLRI or withdrawn routes: a length octet and its significant octets. */
function prefixBytes(c: CIDR): number {
  return 1 + Math.ceil(cidrParts(c).prefix / 8);
}

/**
 * Packs prefixes into as few messages as fit the budget (never over `max`): greedy by each prefix's
 * encoded cost, each message checked by its real encoded size. A prefix that does not fit even alone
 * (its attributes are too large) is returned in `unsent`.
 */
function pack(prefixes: readonly CIDR[], make: (chunk: readonly CIDR[]) => UpdateMessage, budget: UpdateBudget, out: UpdateMessage[], unsent: CIDR[]): void {
  const base = budget.size(make([]));
  if (base > budget.max) {
    unsent.push(...prefixes);
    return;
  }
  let i = 0;
  while (i < prefixes.length) {
    // Two octets of slack: an attribute may switch to an extended length as it grows.
    let room = budget.max - base - 2;
    let j = i;
    while (j < prefixes.length && room - prefixBytes(prefixes[j] as CIDR) >= 0) room -= prefixBytes(prefixes[j++] as CIDR);
    if (j === i) j = i + 1;
    let chunk = prefixes.slice(i, j);
    while (chunk.length > 1 && budget.size(make(chunk)) > budget.max) chunk = chunk.slice(0, -1);
    if (budget.size(make(chunk)) > budget.max) unsent.push(...chunk);
    else out.push(make(chunk));
    i += chunk.length;
  }
}

/**
 * The UPDATEs that take a peer from `before` to `after`: withdrawals, then announcements grouped by
 * attributes, each packed by encoded size under the budget. Routes whose attributes alone do not fit
 * are left out (`unsent`) for the caller to log; nothing over the limit is ever built.
 */
export function updatesFor(before: ReadonlyMap<string, OutPath>, after: ReadonlyMap<string, OutPath>, budget: UpdateBudget): { readonly updates: UpdateMessage[]; readonly unsent: CIDR[] } {
  const out: UpdateMessage[] = [];
  const unsent: CIDR[] = [];
  const gone: Record<Family, CIDR[]> = { 4: [], 6: [] };
  for (const [k, p] of before) if (!after.has(k)) gone[familyOf(p.prefix)].push(p.prefix);
  const groups = new Map<string, { path: OutPath; prefixes: CIDR[] }>();
  for (const [k, p] of after) {
    const old = before.get(k);
    if (old && attrKey(old) === attrKey(p)) continue;
    const g = groups.get(attrKey(p)) ?? { path: p, prefixes: [] };
    g.prefixes.push(p.prefix);
    groups.set(attrKey(p), g);
  }
  for (const f of [4, 6] as const) {
    const withdraw = (chunk: readonly CIDR[]): UpdateMessage => (f === 4 ? { type: 'update', withdrawn: [...chunk], attributes: [], nlri: [] } : { type: 'update', withdrawn: [], attributes: [{ type: 'mp-unreach', flags: AttrFlag.Optional, afi: Afi.IPv6, safi: Safi.Unicast, withdrawn: [...chunk] }], nlri: [] });
    pack(gone[f].sort(), withdraw, budget, out, unsent);
  }
  for (const g of [...groups.values()].sort((a, b) => (attrKey(a.path) < attrKey(b.path) ? -1 : 1))) {
    const f = familyOf(g.path.prefix);
    pack(g.prefixes.sort(), (chunk) => ({ type: 'update', withdrawn: [], attributes: attributesOf(g.path, f, chunk), nlri: f === 4 ? [...chunk] : [] }), budget, out, unsent);
  }
  return { updates: out, unsent };
}

/** End-of-RIB marker for a family (RFC 4724 2). */
export function endOfRib(family: Family): UpdateMessage {
  return family === 4 ? { type: 'update', withdrawn: [], attributes: [], nlri: [] } : { type: 'update', withdrawn: [], attributes: [{ type: 'mp-unreach', flags: AttrFlag.Optional, afi: Afi.IPv6, safi: Safi.Unicast, withdrawn: [] }], nlri: [] };
}

export function isEndOfRib(u: UpdateMessage): boolean {
  if (u.withdrawn.length > 0 || u.nlri.length > 0) return false;
  if (u.attributes.length === 0) return true;
  return u.attributes.length === 1 && u.attributes[0]?.type === 'mp-unreach' && u.attributes[0].withdrawn.length === 0;
}
