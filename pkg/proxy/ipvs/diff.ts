/**
 * Pure: the changes that take one family's IPVS datapath from a snapshot (the kernel, or what we
 * applied last) to the desired state. Full and partial syncs both come here; they differ only in the
 * snapshot's scope.
 */
import { renderCreate, renderSetDelta, renderSetSync } from '../../linux/ipset/render.js';
import type { IpsetSpec } from '../../linux/ipset/types.js';
import { ownedChainLines, type OwnedChainSpec } from '../../linux/iptables/owned-chain.js';
import { destKey, serviceIdKey, type IpvsDestination, type IpvsOp, type IpvsService, type IpvsServiceId } from '../../linux/ipvs/types.js';
import { KUBE_ROUTER_RT_PROTO, type NetOp, type RouteRule } from '../../linux/netlink/types.js';
import { bitsOf, familyOf, type CIDR, type Family, type IP } from '../../util/ip.js';
import type { RemovedBackend } from '../backend.js';
import { frontendKey } from '../model/compute.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import { assignFwmarks, destinationsOf, DSR_RULE_PRIORITY, DSR_TABLE, DUMMY_IF, ipvsChainSpecs, ipvsServiceOf, isDsrCapable, isVip, sameDestination, sameService, SET_BASE, setName, svipPortEntry, svipPortEntryOfId } from './desired.js';
import type { CurrentService, IpvsSnapshot } from './snapshot.js';

export interface DesiredService {
  readonly key: string;
  readonly frontend: Frontend;
  readonly service: IpvsService;
  readonly dests: ReadonlyMap<string, IpvsDestination>;
}

export interface IpvsDesired {
  readonly family: Family;
  /** DSR frontends' `address,proto:port` → their firewall mark. */
  readonly dsrMarks: ReadonlyMap<string, number>;
  /** By `serviceIdKey`. */
  readonly services: ReadonlyMap<string, DesiredService>;
  readonly vips: ReadonlySet<IP>;
  readonly localIPs: ReadonlySet<IP>;
  readonly nodeIP?: IP;
  readonly chains: readonly OwnedChainSpec[];
}

/**
 * What `desiredIpvs` derived from each frontend, by the frontend object: the model keeps an unchanged
 * frontend's object from one sync to the next, so a partial sync derives only what changed. DSR
 * frontends are not kept (their service id is a mark assigned over all of them).
 */
export type DesiredMemo = WeakMap<Frontend, { readonly id: string; readonly desired: DesiredService }>;

/**
 * The desired state of one family, from the proxy model. Pure; `memo` (the caller's, for one family)
 * only saves deriving an unchanged frontend's service again.
 */
export function desiredIpvs(model: FamilyModel, opts: { readonly rejectUnserved: boolean; readonly masqueradeAll: boolean }, memo: DesiredMemo = new WeakMap()): IpvsDesired {
  const f = model.family;
  const localIPs = new Set(model.localIPs.filter((ip) => familyOf(ip) === f));
  const services = new Map<string, DesiredService>();
  const vips = new Set<IP>();
  const dsr: Frontend[] = [];
  for (const fe of model.frontends.values()) if (isDsrCapable(fe)) dsr.push(fe);
  const dsrMarks = assignFwmarks(dsr.map(svipPortEntry));
  for (const [key, fe] of model.frontends) {
    let m = memo.get(fe);
    if (m === undefined || m.desired.key !== key) {
      const service = ipvsServiceOf(fe, f, isDsrCapable(fe) ? dsrMarks.get(svipPortEntry(fe)) : undefined);
      m = { id: serviceIdKey(service.id), desired: { key, frontend: fe, service, dests: new Map(destinationsOf(fe).map((d) => [destKey(d.address, d.port), d])) } };
      if (!isDsrCapable(fe)) memo.set(fe, m);
    }
    services.set(m.id, m.desired);
    if (isVip(fe, localIPs)) vips.add(fe.ip);
  }
  return { family: f, dsrMarks, services, vips, localIPs, ...(model.nodeIP ? { nodeIP: model.nodeIP } : {}), chains: ipvsChainSpecs(model, opts, dsrMarks) };
}

export interface DiffOptions {
  readonly gracefulTermination: boolean;
  /** IPVS services inside --excluded-cidrs are never deleted by us (they keep their ownership record). */
  readonly excluded: (ip: IP) => boolean;
  /** Destinations being drained (`serviceId|dest`): left to the drain check, not deleted here. */
  readonly draining: ReadonlySet<string>;
}

export interface IpvsPlan {
  /** `ipset restore` text run before the IPVS ops: ownership records and new members. */
  readonly setsBefore: string;
  readonly ipvsOps: readonly IpvsOp[];
  /** kube-dummy-if, VIP addresses and their local routes. */
  readonly netOps: readonly NetOp[];
  /** `ipset restore` text run after the IPVS ops: members that went (ownership cleared last). */
  readonly setsAfter: string;
  /** `iptables-restore --noflush` text; empty when our chains and jumps are as wanted. */
  readonly iptables: string;
  readonly removed: readonly RemovedBackend[];
  /** Destinations to drain (weight 0 is among the ops) and draining ones to forget. */
  readonly drainStart: readonly { readonly service: IpvsServiceId; readonly dest: IpvsDestination }[];
  readonly drainStop: readonly string[];
  /** Wanted services whose address:port a service we did not create holds: skipped, never adopted. */
  readonly foreign: readonly string[];
  /** Set members we wrote (each counts as a kernel write). */
  readonly setWrites: number;
  /** The state after this plan, for the next partial sync. */
  readonly sets: { readonly svip: ReadonlySet<string>; readonly svipPort: ReadonlySet<string>; readonly localIPs: ReadonlySet<string>; readonly dsr: ReadonlySet<string> };
}

export const drainKey = (id: string, d: Pick<IpvsDestination, 'address' | 'port'>): string => `${id}|${destKey(d.address, d.port)}`;

function removedOf(s: IpvsService, d: IpvsDestination): RemovedBackend[] {
  if ('fwmark' in s.id) return []; // DSR: the connection lives in the pod, not in our conntrack
  const id = s.id;
  return [{ key: frontendKey(id.address, id.protocol, id.port), frontend: { ip: id.address, protocol: id.protocol, port: id.port, affinity: s.flags.persistent === true }, backendIP: d.address, backendPort: d.port }];
}

function inScope(snap: IpvsSnapshot, id: string): boolean {
  return snap.scope === 'all' || snap.scope.has(id);
}

/** Whether a wanted service is in scope: by its id, or, for a DSR service (whose id is its mark), by its frontend's key. */
function wantedInScope(snap: IpvsSnapshot, id: string, w: DesiredService): boolean {
  return inScope(snap, id) || ('fwmark' in w.service.id && inScope(snap, serviceIdOfFrontendKey(w.key)));
}

export function diffIpvs(want: IpvsDesired, snap: IpvsSnapshot, opts: DiffOptions): IpvsPlan {
  const f = want.family;
  const names = { svip: setName(SET_BASE.svip, f), svipPort: setName(SET_BASE.svipPort, f), localIPs: setName(SET_BASE.localIPs, f), dsr: setName(SET_BASE.dsr, f) };
  const owned = snap.sets.get(names.svipPort)?.entries ?? new Set<string>();
  const ownedMarks = new Set(assignFwmarks(snap.sets.get(names.dsr)?.entries ?? []).values());
  const isOurs = (have: CurrentService, entry: string): boolean => ('fwmark' in have.service.id ? ownedMarks.has(have.service.id.fwmark) : owned.has(entry));
  const ops: IpvsOp[] = [];
  const removed: RemovedBackend[] = [];
  const drainStart: { service: IpvsServiceId; dest: IpvsDestination }[] = [];
  const drainStop: string[] = [];
  const foreign: string[] = [];
  const svipPort = new Set<string>();

  // 1. Services we want, in scope.
  for (const [id, w] of want.services) {
    // (a DSR service's id is its mark: the frontend's key says whether a partial sync looks at it)
    if (!wantedInScope(snap, id, w)) continue;
    const have: CurrentService | undefined = snap.services.get(id);
    const entry = svipPortEntry(w.frontend);
    if (have && !isOurs(have, entry)) {
      foreign.push(id);
      continue;
    }
    svipPort.add(entry);
    if (!have) {
      ops.push({ op: 'add-service', service: w.service }, ...[...w.dests.values()].map((d): IpvsOp => ({ op: 'add-dest', service: w.service.id, dest: d })));
      continue;
    }
    if (!sameService(have.service, w.service)) ops.push({ op: 'update-service', service: w.service });
    for (const [dk, d] of w.dests) {
      const h = have.dests.get(dk);
      if (opts.draining.has(`${id}|${dk}`)) drainStop.push(`${id}|${dk}`); // back before it drained: weighted up below
      if (!h) ops.push({ op: 'add-dest', service: w.service.id, dest: d });
      else if (!sameDestination(h, d)) ops.push({ op: 'update-dest', service: w.service.id, dest: d });
    }
    for (const [dk, h] of have.dests) {
      if (w.dests.has(dk) || opts.draining.has(`${id}|${dk}`)) continue; // draining: the drain check deletes it
      removed.push(...removedOf(w.service, h));
      // Drained only while it carries connections (unknown from memory: assume it does).
      if (opts.gracefulTermination && (h.connections === undefined || h.connections > 0)) {
        ops.push({ op: 'update-dest', service: w.service.id, dest: { ...h, weight: 0 } });
        drainStart.push({ service: w.service.id, dest: { address: h.address, port: h.port, forward: h.forward, weight: 0, upperThreshold: h.upperThreshold, lowerThreshold: h.lowerThreshold } });
      } else ops.push({ op: 'delete-dest', service: w.service.id, address: h.address, port: h.port });
    }
  }
  // 2. Services of ours no longer wanted, in scope.
  for (const [id, have] of snap.services) {
    if (want.services.has(id) || !inScope(snap, id)) continue;
    const hid = have.service.id;
    const entry = 'address' in hid ? svipPortEntryOfId(hid) : '';
    if (!isOurs(have, entry)) continue; // someone else's
    if ('address' in hid && opts.excluded(hid.address)) {
      svipPort.add(entry); // still ours, kept: its record stays
      continue;
    }
    ops.push({ op: 'delete-service', id: have.service.id });
    for (const d of have.dests.values()) removed.push(...removedOf(have.service, d));
    for (const k of opts.draining) if (k.startsWith(`${id}|`)) drainStop.push(k);
  }
  // Out-of-scope records stay as they are (a partial sync looks only at what changed).
  if (snap.scope !== 'all') {
    const looked = new Set([...snap.scope].map(entryOfId));
    for (const e of owned) if (!looked.has(e)) svipPort.add(e);
  }

  // 3. Sets: ownership before services exist, removals after they are gone.
  const sets = { svip: new Set<string>(want.vips), svipPort, localIPs: new Set<string>(want.localIPs), dsr: new Set<string>(want.dsrMarks.keys()) };
  let before = '';
  let after = '';
  let setWrites = 0;
  // Only what is written is sorted: a partial sync at 10,000 services changes a few members of each.
  const specs: { readonly name: string; readonly type: IpsetSpec['type']; readonly entries: ReadonlySet<string> }[] = [
    { name: names.svipPort, type: 'hash:ip,port', entries: sets.svipPort },
    { name: names.svip, type: 'hash:ip', entries: sets.svip },
    { name: names.localIPs, type: 'hash:ip', entries: sets.localIPs },
    { name: names.dsr, type: 'hash:ip,port', entries: sets.dsr },
  ];
  for (const spec of specs) {
    const have = snap.sets.get(spec.name);
    if (have && have.type !== spec.type) {
      after += renderSetSync([{ name: spec.name, type: spec.type, family: f, entries: [...spec.entries].sort() }]); // another type: swapped whole
      setWrites += spec.entries.size;
      continue;
    }
    const add: string[] = [];
    for (const e of spec.entries) if (!have?.entries.has(e)) add.push(e);
    const del: string[] = [];
    for (const e of have?.entries ?? []) if (!spec.entries.has(e)) del.push(e);
    if (!have) before += renderCreate({ name: spec.name, type: spec.type, family: f, entries: [] }) + '\n';
    if (add.length > 0) before += renderSetDelta(spec.name, add.sort(), []);
    if (del.length > 0) after += renderSetDelta(spec.name, [], del.sort());
    setWrites += add.length + del.length;
  }

  // 4. VIPs on kube-dummy-if with a local route whose source is the node IP (upstream #376).
  const netOps: NetOp[] = [];
  if (!snap.dummy.exists) netOps.push({ op: 'link-add-dummy', name: DUMMY_IF });
  if (!snap.dummy.up) netOps.push({ op: 'link-set', name: DUMMY_IF, up: true });
  const prefix = bitsOf(f);
  const host = (ip: IP): CIDR => `${ip}/${prefix}` as CIDR;
  const addVip: IP[] = [];
  for (const ip of want.vips) if (!snap.vips.has(ip) || (want.nodeIP && snap.localRoutes.get(ip) !== want.nodeIP)) addVip.push(ip);
  for (const ip of addVip.sort()) {
    if (!snap.vips.has(ip)) netOps.push({ op: 'addr-add', dev: DUMMY_IF, ip, prefix });
    if (want.nodeIP && snap.localRoutes.get(ip) !== want.nodeIP) netOps.push({ op: 'route-replace', route: { dst: host(ip), type: 'local', table: 255, dev: DUMMY_IF, src: want.nodeIP, protocol: KUBE_ROUTER_RT_PROTO, scope: 'host' } });
  }
  const goneVip: IP[] = [];
  for (const ip of snap.vips) if (!want.vips.has(ip)) goneVip.push(ip);
  for (const ip of goneVip.sort()) {
    if (snap.localRoutes.has(ip)) netOps.push({ op: 'route-delete', route: { dst: host(ip), type: 'local', table: 255, dev: DUMMY_IF, protocol: KUBE_ROUTER_RT_PROTO } });
    netOps.push({ op: 'addr-delete', dev: DUMMY_IF, ip, prefix });
  }

  // DSR: marked packets are delivered locally (to IPVS) through table 78, one rule per mark.
  if (f === 4) {
    const marks = new Set(want.dsrMarks.values());
    if (marks.size > 0 && !snap.dsrRoute) netOps.push({ op: 'route-replace', route: DSR_ROUTE });
    for (const mark of [...marks].sort((a, b) => a - b)) if (!snap.dsrRules.has(mark)) netOps.push({ op: 'rule-add', rule: dsrRule(mark) });
    for (const mark of [...snap.dsrRules].sort((a, b) => a - b)) if (!marks.has(mark)) netOps.push({ op: 'rule-delete', rule: dsrRule(mark) });
    if (marks.size === 0 && snap.dsrRoute) netOps.push({ op: 'route-delete', route: DSR_ROUTE });
  }

  // 5. Our chains and the jumps into them.
  const ipt: string[] = [];
  for (const spec of want.chains) {
    const lines = ownedChainLines(snap.tables[spec.table as 'filter' | 'nat' | 'mangle'] ?? { chains: new Map() }, spec);
    if (lines.length > 0) ipt.push(`*${spec.table}`, ...lines, 'COMMIT');
  }
  return { setsBefore: before, ipvsOps: ops, netOps, setsAfter: after, iptables: ipt.length > 0 ? [...ipt, ''].join('\n') : '', removed, drainStart, drainStop, foreign, setWrites, sets };
}

/** `local default dev lo` in table 78: where DSR's marked packets are looked up. */
export const DSR_ROUTE = { dst: '0.0.0.0/0' as CIDR, type: 'local', table: DSR_TABLE, dev: 'lo', protocol: KUBE_ROUTER_RT_PROTO, scope: 'host' } as const;

export function dsrRule(mark: number): RouteRule {
  return { family: 4, priority: DSR_RULE_PRIORITY, fwmark: mark, table: DSR_TABLE };
}

/** `ip,proto:port` (the svip-prt member) of a service id key (`proto/address/port`, serviceIdKey). */
function entryOfId(id: string): string | undefined {
  const m = /^(tcp|udp|sctp)\/([^/]+)\/(\d+)$/.exec(id);
  return m ? `${m[2]},${m[1]}:${m[3]}` : undefined;
}

/** The service id key of a frontend key (`ip . proto . port`, frontendKey). */
export function serviceIdOfFrontendKey(key: string): string {
  const [ip, proto, port] = key.split(' . ');
  return `${proto ?? ''}/${ip ?? ''}/${port ?? ''}`;
}
