/**
 * What the IPVS datapath has in the kernel for one family, read once per full sync (and, for a partial
 * sync, what we applied last, kept in memory). The diff (`diff.ts`) only ever compares a desired state
 * with one of these, so full and partial syncs share one comparison.
 */
import type { Ipset } from '../../linux/ipset/types.js';
import { parseSave, type SavedTable } from '../../linux/iptables/save.js';
import type { Iptables } from '../../linux/iptables/types.js';
import { destKey, serviceIdKey, type Ipvs, type IpvsDestination, type IpvsService } from '../../linux/ipvs/types.js';
import { KUBE_ROUTER_RT_PROTO, type Netlink } from '../../linux/netlink/types.js';
import { isLinkLocal, type Family, type IP } from '../../util/ip.js';
import { assignFwmarks, DSR_RULE_PRIORITY, DSR_TABLE, DUMMY_IF, SET_BASE, setName, svipPortEntryOfId } from './desired.js';

export interface CurrentDestination extends IpvsDestination {
  /** Connections through it, when read from the kernel; undefined when known only from memory. */
  readonly connections?: number;
}

export interface CurrentService {
  readonly service: IpvsService;
  readonly dests: ReadonlyMap<string, CurrentDestination>;
}

export interface CurrentSet {
  readonly type: string;
  readonly entries: ReadonlySet<string>;
}

export interface IpvsSnapshot {
  /** `all`: every service of the family in the kernel; otherwise only these service ids were looked at. */
  readonly scope: 'all' | ReadonlySet<string>;
  /** By `serviceIdKey`; fwmark services too (ours: the marks of our recorded DSR frontends). */
  readonly services: ReadonlyMap<string, CurrentService>;
  /** Our three sets by name; absent when the set does not exist. */
  readonly sets: ReadonlyMap<string, CurrentSet>;
  readonly dummy: { readonly exists: boolean; readonly up: boolean };
  /** Addresses on kube-dummy-if (never the kernel's own link-local one). */
  readonly vips: ReadonlySet<IP>;
  /** Our `local` routes in table local: VIP → the source address they carry. */
  readonly localRoutes: ReadonlyMap<IP, IP | undefined>;
  readonly tables: { readonly filter: SavedTable; readonly nat: SavedTable; readonly mangle: SavedTable };
  /** Marks with our DSR rule (`fwmark M lookup 78`), and whether table 78 has our `local default`. */
  readonly dsrRules: ReadonlySet<number>;
  readonly dsrRoute: boolean;
}

export interface SnapshotDeps {
  readonly ipvs: Ipvs;
  readonly netlink: Netlink;
  readonly iptables: Iptables;
  readonly ipset: Ipset;
}

const OUR_SETS = [SET_BASE.svip, SET_BASE.svipPort, SET_BASE.localIPs, SET_BASE.dsr] as const;

/**
 * Reads the kernel once: IPVS services of the family, the destinations of those recorded as ours (only
 * ours: a foreign service's destinations are none of our business), our sets, kube-dummy-if with its
 * addresses and our local routes, and the filter and nat tables.
 */
export async function readIpvsSnapshot(deps: SnapshotDeps, family: Family): Promise<IpvsSnapshot> {
  const [services, saved, links, filter, nat, mangle] = await Promise.all([deps.ipvs.services(), deps.ipset.save(), deps.netlink.links(), deps.iptables.save('filter'), deps.iptables.save('nat'), family === 4 ? deps.iptables.save('mangle') : Promise.resolve('')]);
  const ourSetNames = new Set<string>(OUR_SETS.map((b) => setName(b, family)));
  const sets = new Map(saved.filter((x) => ourSetNames.has(x.name)).map((x): [string, CurrentSet] => [x.name, { type: x.type, entries: new Set(x.entries) }]));
  const owned = sets.get(setName(SET_BASE.svipPort, family))?.entries ?? new Set<string>();
  const ownedMarks = new Set(assignFwmarks(sets.get(setName(SET_BASE.dsr, family))?.entries ?? []).values());
  const out = new Map<string, CurrentService>();
  for (const s of services) {
    if (s.id.family !== family) continue;
    const service: IpvsService = { id: s.id, scheduler: s.scheduler, flags: s.flags, timeout: s.timeout, netmask: s.netmask };
    const dests = new Map<string, CurrentDestination>();
    if ('fwmark' in s.id ? ownedMarks.has(s.id.fwmark) : owned.has(svipPortEntryOfId(s.id))) {
      for (const d of await deps.ipvs.destinations(s.id)) {
        dests.set(destKey(d.address, d.port), { address: d.address, port: d.port, forward: d.forward, weight: d.weight, upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold, connections: d.activeConnections + d.inactiveConnections });
      }
    }
    out.set(serviceIdKey(s.id), { service, dests });
  }
  const dummy = links.find((l) => l.name === DUMMY_IF);
  const vips = new Set(dummy ? (await deps.netlink.addresses(family)).filter((a) => a.dev === DUMMY_IF && !isLinkLocal(a.ip)).map((a) => a.ip) : []);
  const localRoutes = new Map((await deps.netlink.routes(family, { table: 255, protocol: KUBE_ROUTER_RT_PROTO })).map((r): [IP, IP | undefined] => [r.dst.replace(/\/(32|128)$/, '') as IP, r.src]));
  const dsrRules = new Set(family === 4 ? (await deps.netlink.rules(4)).filter((r) => r.table === DSR_TABLE && r.priority === DSR_RULE_PRIORITY && r.fwmark !== undefined && ownedMarks.has(r.fwmark)).map((r) => r.fwmark as number) : []);
  const dsrRoute = family === 4 && (await deps.netlink.routes(4, { table: DSR_TABLE, protocol: KUBE_ROUTER_RT_PROTO })).some((r) => r.type === 'local' && r.dst === '0.0.0.0/0');
  return { scope: 'all', services: out, sets, dummy: { exists: dummy !== undefined, up: dummy?.up ?? false }, vips, localRoutes, tables: { filter: parseSave(filter), nat: parseSave(nat), mangle: parseSave(mangle) }, dsrRules, dsrRoute };
}
