import type { Family } from '../../util/ip.js';
import type { Frontend } from '../model/types.js';
import { words, type FamilyWords } from '../../linux/nftables/family.js';

/**
 * The proxy's nftables layout, one table per family (`ip kube-router-proxy`, `ip6 kube-router-proxy`).
 * Per-object cost dominates nftables (docs/performance.md), so the object count does not grow with
 * services. A new connection does one lookup in the verdict map `dispatch` (frontend `addr . proto .
 * port` → `goto` a handler chain); handler chains exist per combination of backend count N, masquerade
 * affinity and pick (a handful in practice), and pick `numgen random mod N` (or a `jhash` of what the
 * service's hashing scheduler hashes) in their map `ep-N[-m][-a][-hs|-hsp|-hd]`
 * (`addr . proto . port . index → backend`). Services and endpoints are only elements.
 */
export const TABLE = 'kube-router-proxy';
/** Packet mark bit for "masquerade this connection" (kube-proxy's convention). */
export const MASQ_MARK = 0x4000;
export const CANARY = 'canary';

export const SETS = {
  podCidrs: 'pod-cidrs',
  dispatch: 'dispatch',
  noEndpoints: 'no-endpoints',
  serviceIPs: 'service-ips',
  hairpin: 'hairpin',
  affinity: 'affinity',
} as const;

/**
 * Per-frontend traffic counters: sets declared with `counter`, whose elements are the frontend keys;
 * each lookup that matches counts on its element (no named counter objects: elements are what
 * nftables handles cheaply).
 */
export const COUNTER_SETS = { in: 'count-in', out: 'count-out', new: 'count-new' } as const;
export type CounterKind = keyof typeof COUNTER_SETS;

/**
 * How a handler picks among its N backends: at random (`numgen`, IPVS rr's stateless form), or by a
 * hash (`jhash`) of the fields an IPVS hashing scheduler hashes: the source address (sh, mh), the
 * source address and port (sh, mh with `flag-2`), the destination address (dh).
 */
export type PickMethod = 'random' | 'src' | 'src-port' | 'dst';

/** The IPVS schedulers the nftables datapath honours (`rr` is its random pick); the others are IPVS-only. */
export const NFT_SCHEDULERS: ReadonlySet<string> = new Set(['rr', 'sh', 'mh', 'dh']);

export function pickOf(f: Pick<Frontend, 'scheduler' | 'schedFlags'>): PickMethod {
  switch (f.scheduler) {
    case 'sh':
    case 'mh':
      return f.schedFlags.includes('flag-2') ? 'src-port' : 'src';
    case 'dh':
      return 'dst';
    case 'rr':
    case 'lc':
    case 'sed':
    case 'nq':
    case 'wrr':
    case 'wlc':
      return 'random';
  }
}

const PICK_SUFFIX: Readonly<Record<PickMethod, string>> = { random: '', src: '-hs', 'src-port': '-hsp', dst: '-hd' };

/**
 * The fixed seed of every hash pick, so every node sends a given client to the same backend (as the
 * same IPVS hashing scheduler with the same destinations would).
 */
export const HASH_SEED = '0x6b72';

export interface Handler {
  readonly n: number;
  readonly masq: boolean;
  readonly affinity: boolean;
  readonly pick: PickMethod;
}

/** The handler chain for a frontend with N backends, masquerade, affinity and pick as given. */
export function handlerChain(h: Handler): string {
  return `svc-${h.n}${h.masq ? '-m' : ''}${h.affinity ? '-a' : ''}${PICK_SUFFIX[h.pick]}`;
}

/** The handler a frontend's new connections go to; none without backends (they are rejected). */
export function handlerOf(f: Frontend, masqueradeAll: boolean): Handler | undefined {
  return f.backends.length === 0 ? undefined : { n: f.backends.length, masq: f.masquerade || masqueradeAll, affinity: f.affinitySeconds !== undefined, pick: pickOf(f) };
}

/** The nft expression that picks an index in [0, N) for a new connection. */
export function pickExpr(family: Family, h: PickMethod | Handler, n?: number): string {
  const pick = typeof h === 'string' ? h : h.pick;
  const count = typeof h === 'string' ? (n as number) : h.n;
  const a = words(family).addr;
  switch (pick) {
    case 'random':
      return `numgen random mod ${count}`;
    case 'src':
      return `jhash ${a} saddr mod ${count} seed ${HASH_SEED}`;
    case 'src-port':
      return `jhash ${a} saddr . th sport mod ${count} seed ${HASH_SEED}`;
    case 'dst':
      return `jhash ${a} daddr mod ${count} seed ${HASH_SEED}`;
  }
}

/**
 * The endpoint map of one handler chain: `ep-N[-m][-a]`, born and deleted with its chain. (A map per
 * handler, not per backend count N: nft 1.0.6 cannot add a rule that uses an existing `typeof` map with
 * a `th dport` key outside the transaction that made the map, "conflicting protocols specified: ip vs.
 * th", so a new handler chain always comes with its own new map.)
 */
export function handlerMap(h: Handler): string {
  return `ep-${handlerChain(h).slice('svc-'.length)}`;
}
export function affinitySet(seconds: number): string {
  return `aff-fe-${seconds}`;
}

export { words, type FamilyWords };

/** Sets whose elements several frontends can want at once (reference-counted). */
export const SHARED_SETS: ReadonlySet<string> = new Set([SETS.serviceIPs, SETS.hairpin, SETS.podCidrs]);

/**
 * Calls `emit(set, element)` for each element one frontend puts in the kernel. Elements of
 * SHARED_SETS may be wanted by several frontends; all others belong to this frontend alone.
 */
export function forEachFrontendElement(key: string, f: Frontend, masqueradeAll: boolean, isLocal: (ip: string) => boolean, emit: (set: string, element: string) => void, counters = false): void {
  const n = f.backends.length;
  const h = handlerOf(f, masqueradeAll);
  if (!h) emit(SETS.noEndpoints, key);
  else {
    emit(SETS.dispatch, `${key} : goto ${handlerChain(h)}`);
    const map = handlerMap(h);
    for (let i = 0; i < n; i++) {
      const b = f.backends[i] as Frontend['backends'][number];
      emit(map, `${key} . ${i} : ${b.ip} . ${b.port}`);
    }
  }
  if (f.affinitySeconds !== undefined) emit(affinitySet(f.affinitySeconds), key);
  if (f.kind !== 'nodeport' && !isLocal(f.ip)) emit(SETS.serviceIPs, f.ip);
  if (f.hairpin) for (const b of f.backends) emit(SETS.hairpin, `${b.ip} . ${b.ip}`);
  if (counters) for (const set of Object.values(COUNTER_SETS)) emit(set, key);
}

/** The same, as `set\telement` strings (for diffs of one frontend). */
export function frontendElements(key: string, f: Frontend, masqueradeAll: boolean, isLocal: (ip: string) => boolean, counters = false): string[] {
  const out: string[] = [];
  forEachFrontendElement(key, f, masqueradeAll, isLocal, (set, e) => out.push(`${set}\t${e}`), counters);
  return out;
}
