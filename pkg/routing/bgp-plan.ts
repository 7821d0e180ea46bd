import { MAXKEYLEN } from '../linux/tcp-md5.js';
import type { Origination, PeerBfd, PeerSpec } from '../bgp/speaker/speaker.js';
import { BFD_MAX_INTERVAL_MS, BFD_MIN_INTERVAL_MS } from '../bfd/fsm.js';
import { BFD_MULTIHOP_PORT } from '../bfd/transport.js';
import { parseGoDuration } from '../options/duration.js';
import { ownPodCIDRs, primaryIP, type NodeInfo } from '../k8s/kinds/node.js';
import type { RouterConfig } from '../options/config.js';
import { bigIntToIP, familyOf, tryParseCIDR, tryParseIP, type CIDR, type Family, type IP } from '../util/ip.js';
import { createHash } from 'node:crypto';
import { asArray, asRecord, asString, ownValue } from '../util/json.js';
import { parse as parseYaml } from 'yaml';

/** What this node's BGP speaker should be doing, computed from Node objects and flags. Pure. */
export interface BgpPlan {
  readonly localAs: number;
  readonly routerId: IP;
  readonly nextHop: Partial<Record<Family, IP>>;
  /** The Node's own addresses: our sessions' source (peers know us by them) unless a peer names another. */
  readonly sessionAddress: Partial<Record<Family, IP>>;
  /** Where the speaker listens: `kube-router.io/bgp-local-addresses` (those on this node), else the session addresses. */
  readonly listenAddresses: readonly IP[];
  readonly peers: readonly PeerSpec[];
  readonly originations: readonly Origination[];
  readonly importReject: readonly CIDR[];
  readonly rrClusterId?: IP;
  /** `kube-router.io/path-prepend.*`: applied to what external peers get. */
  readonly prepend?: NonNullable<Origination['prepend']>;
  /** `kube-router.io/node.bgp.communities`: upstream puts them on service VIP advertisements. */
  readonly vipCommunities: readonly number[];
  /** Annotations that were not understood (logged and counted; the rest of the plan stands). */
  readonly problems: readonly string[];
}

/** BFD for one peer: the global flags' timers, overridden per peer; multihop (RFC 5883, port 4784) when eBGP multihop is configured. */
function bfdFor(cfg: RouterConfig, over: { readonly port?: number; readonly multiplier?: number; readonly minTxMs?: number; readonly minRxMs?: number } = {}): PeerBfd {
  const multi = cfg.multihopTtl >= 2;
  return {
    timers: { desiredMinTxUs: Math.round((over.minTxMs ?? cfg.bfd.minTxMs) * 1000), requiredMinRxUs: Math.round((over.minRxMs ?? cfg.bfd.minRxMs) * 1000), detectMult: over.multiplier ?? cfg.bfd.multiplier },
    port: multi ? BFD_MULTIHOP_PORT : (over.port ?? cfg.bfd.port),
    hop: multi ? 'multi' : 'single',
  };
}

/**
 * A peer's `bfd` entry in `kube-router.io/peers`: `{enabled, port, detection_multiplier,
 * desired_min_tx_interval, required_min_rx_interval}`; intervals as durations (`300ms`) or milliseconds.
 * Undefined: no BFD for it; a string: what is wrong (the peer keeps its session, without BFD).
 */
function annotatedBfd(v: unknown, cfg: RouterConfig): PeerBfd | undefined | string {
  if (v === undefined || v === null) return undefined;
  const r = asRecord(v);
  if (!r) return 'is not a mapping';
  const enabled = r['enabled'];
  if (enabled !== undefined && typeof enabled !== 'boolean') return 'enabled is not true or false';
  if (enabled === false) return undefined;
  const int = (k: string, max: number): number | undefined | string => {
    const x = r[k];
    if (x === undefined) return undefined;
    const n = typeof x === 'number' ? x : typeof x === 'string' && /^\d{1,10}$/.test(x) ? Number(x) : NaN;
    return Number.isInteger(n) && n >= 1 && n <= max ? n : `${k} ${JSON.stringify(x)} is not an integer in 1-${max}`;
  };
  const interval = (k: string): number | undefined | string => {
    const x = r[k];
    if (x === undefined) return undefined;
    const ms = typeof x === 'number' ? x : typeof x === 'string' ? parseGoDuration(x.trim()) : undefined;
    return ms !== undefined && ms >= BFD_MIN_INTERVAL_MS && ms <= BFD_MAX_INTERVAL_MS ? ms : `${k} ${JSON.stringify(x)} is not a duration of ${BFD_MIN_INTERVAL_MS}ms or more`;
  };
  const port = int('port', 65535);
  const multiplier = int('detection_multiplier', 255);
  const minTxMs = interval('desired_min_tx_interval');
  const minRxMs = interval('required_min_rx_interval');
  for (const x of [port, multiplier, minTxMs, minRxMs]) if (typeof x === 'string') return x;
  const num = (x: number | string | undefined): number | undefined => (typeof x === 'number' ? x : undefined);
  const over = { port: num(port), multiplier: num(multiplier), minTxMs: num(minTxMs), minRxMs: num(minRxMs) };
  return bfdFor(cfg, Object.fromEntries(Object.entries(over).filter(([, x]) => x !== undefined)));
}

const WELL_KNOWN: Readonly<Record<string, number>> = { 'no-export': 0xffffff01, 'no-advertise': 0xffffff02, 'no-export-subconfed': 0xffffff03, 'no-peer': 0xffffff04 };

/**
 * A TCP MD5 key from base64, as bytes (a key is bytes, not text: it is never round-tripped through
 * UTF-8), checked when the peer is planned; a string says what is wrong with it.
 */
export function md5Key(base64: string): Uint8Array | string {
  const t = base64.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0) return 'is not base64';
  const key = Buffer.from(t, 'base64');
  if (key.length === 0) return 'is empty';
  if (key.length > MAXKEYLEN) return `is ${key.length} bytes; TCP MD5 keys are at most ${MAXKEYLEN}`;
  return new Uint8Array(key);
}

/** Budgets for annotation-driven attributes (documented in the README): they must fit one UPDATE. */
export const MAX_COMMUNITIES = 64;
export const MAX_PREPEND = 32;

/** RFC 1997 communities: `a:b`, a uint32, or a well-known name. */
export function parseCommunity(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  const known = ownValue(WELL_KNOWN, t);
  if (known !== undefined) return known;
  const m = /^(\d+):(\d+)$/.exec(t);
  if (m) {
    const a = Number(m[1]);
    const b = Number(m[2]);
    return a <= 0xffff && b <= 0xffff ? a * 65536 + b : undefined;
  }
  if (/^\d+$/.test(t) && Number(t) <= 0xffffffff) return Number(t);
  return undefined;
}

/** A cluster id as an IPv4 address: `rr.server`/`rr.client` take a uint32 or an address. */
function clusterIdOf(text: string): IP | undefined {
  const ip = tryParseIP(text.trim());
  if (ip && familyOf(ip) === 4) return ip;
  if (!/^\d+$/.test(text.trim())) return undefined;
  const n = BigInt(text.trim());
  return n <= 0xffffffffn ? bigIntToIP(n, 4) : undefined;
}

function nodeAsn(n: NodeInfo, cfg: RouterConfig, problems: string[]): number {
  const a = n.annotations['kube-router.io/node.asn'];
  if (a === undefined || cfg.nodesFullMesh) return cfg.clusterAsn;
  if (!/^\d+$/.test(a) || Number(a) < 1 || Number(a) > 0xffffffff) {
    problems.push(`${n.name}: kube-router.io/node.asn ${JSON.stringify(a)} is not an AS number`);
    return cfg.clusterAsn;
  }
  return Number(a);
}

/**
 * Per-node external peers: `kube-router.io/peers` (a YAML list of remoteip, remoteasn, port, password
 * in base64), else the older positional `peer.ips` / `peer.asns` / `peer.ports` / `peer.passwords`.
 */
function annotatedPeers(self: NodeInfo, cfg: RouterConfig, problems: string[], local: LocalCheck): PeerSpec[] {
  const yamlText = self.annotations['kube-router.io/peers'];
  if (yamlText !== undefined) {
    let doc: unknown;
    try {
      doc = parseYaml(yamlText);
    } catch (e) {
      problems.push(`${self.name}: kube-router.io/peers is not YAML: ${e instanceof Error ? e.message : String(e)}`);
      return [];
    }
    const out: PeerSpec[] = [];
    for (const [i, item] of asArray(doc).entries()) {
      const r = asRecord(item);
      const ip = tryParseIP(asString(r?.['remoteip']) ?? '');
      // Numbers, or decimal strings (YAML may quote them); `true` or `1.5` is not an AS number.
      const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'string' && /^\d{1,10}$/.test(v) ? Number(v) : undefined);
      const asn = int(r?.['remoteasn']);
      const port = r?.['port'] === undefined ? 179 : int(r['port']);
      const maxPrefixes = r?.['maxprefixes'] === undefined ? undefined : int(r['maxprefixes']);
      const pw = r?.['password'];
      if (!ip || asn === undefined || asn < 1 || asn > 0xffffffff || port === undefined || port < 1 || port > 65535 || (pw !== undefined && typeof pw !== 'string') || (r?.['maxprefixes'] !== undefined && maxPrefixes === undefined)) {
        problems.push(`${self.name}: kube-router.io/peers[${i}] needs remoteip, remoteasn (an integer) and optionally port, maxprefixes and a base64 password`);
        continue;
      }
      const key = typeof pw === 'string' ? md5Key(pw) : undefined;
      if (typeof key === 'string') {
        problems.push(`${self.name}: kube-router.io/peers[${i}].password ${key}`);
        continue;
      }
      const localAddress = local(r?.['localip'], ip, `kube-router.io/peers[${i}].localip`);
      const bfd = annotatedBfd(r?.['bfd'], cfg);
      if (typeof bfd === 'string') problems.push(`${self.name}: kube-router.io/peers[${i}].bfd ${bfd}; the peer is used without BFD`);
      out.push({ address: ip, asn, port, kind: 'external', ...(key ? { password: key } : {}), ...(maxPrefixes !== undefined ? { maxPrefixes } : {}), ...(localAddress ? { localAddress } : {}), ...(bfd && typeof bfd !== 'string' ? { bfd } : {}) });
    }
    return out;
  }
  const list = (k: string): string[] => (self.annotations[k] ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  const ips = list('kube-router.io/peer.ips');
  if (ips.length === 0) return [];
  const asns = list('kube-router.io/peer.asns');
  const ports = list('kube-router.io/peer.ports');
  const passwords = list('kube-router.io/peer.passwords');
  const localips = list('kube-router.io/peer.localips');
  const out: PeerSpec[] = [];
  for (const [i, t] of ips.entries()) {
    const ip = tryParseIP(t);
    const asn = /^\d{1,10}$/.test(asns[i] ?? '') ? Number(asns[i]) : NaN;
    const port = ports[i] === undefined ? 179 : /^\d{1,5}$/.test(ports[i] ?? '') ? Number(ports[i]) : NaN;
    if (!ip || !Number.isInteger(asn) || asn < 1 || asn > 0xffffffff || !Number.isInteger(port) || port < 1 || port > 65535) {
      problems.push(`${self.name}: peer ${i} of kube-router.io/peer.ips/asns/ports is not usable (${t}, ${asns[i] ?? '-'}, ${ports[i] ?? '179'})`);
      continue;
    }
    const pw = passwords[i];
    const key = pw !== undefined ? md5Key(pw) : undefined;
    if (typeof key === 'string') {
      problems.push(`${self.name}: password ${i} of kube-router.io/peer.passwords ${key}`);
      continue;
    }
    const localAddress = local(localips[i], ip, `kube-router.io/peer.localips[${i}]`);
    out.push({ address: ip, asn, port, kind: 'external', ...(key ? { password: key } : {}), ...(localAddress ? { localAddress } : {}) });
  }
  return out;
}

/**
 * A peer's local address as written (`localip`), checked: an address, of the peer's family, on this
 * node. Anything else is a problem reported, and the session uses the node's address.
 */
type LocalCheck = (text: unknown, remote: IP, where: string) => IP | undefined;

function localCheck(self: NodeInfo, problems: string[], nodeAddresses: ReadonlySet<string> | undefined): LocalCheck {
  return (text, remote, where) => {
    if (text === undefined || text === '') return undefined;
    const ip = typeof text === 'string' ? tryParseIP(text.trim()) : undefined;
    if (!ip) problems.push(`${self.name}: ${where} ${JSON.stringify(text)} is not an IP address; using the node address`);
    else if (familyOf(ip) !== familyOf(remote)) problems.push(`${self.name}: ${where} ${ip} is not of the peer ${remote}'s family; using the node address`);
    else if (nodeAddresses && !nodeAddresses.has(ip)) problems.push(`${self.name}: ${where} ${ip} is not an address of this node; using the node address`);
    else return ip;
    return undefined;
  };
}

function routerIdFor(cfg: RouterConfig, nodeIP4: IP | undefined, nodeName: string): IP | undefined {
  if (cfg.routerId.kind === 'fixed') return cfg.routerId.id;
  if (cfg.routerId.kind === 'node-ip' && nodeIP4) return nodeIP4;
  // generate (or an IPv6-only node): a stable 32-bit id from the node name, never 0.x.x.x.
  const n = createHash('sha256').update(nodeName).digest().readUInt32BE(0);
  return bigIntToIP(BigInt(n >>> 24 === 0 ? n | 0x01000000 : n), 4);
}

export function planBgp(
  selfName: string,
  nodes: readonly NodeInfo[],
  cfg: RouterConfig,
  opts: { readonly families: readonly Family[]; readonly serviceRanges: readonly CIDR[]; readonly nextHopOverride?: Partial<Record<Family, IP>>; readonly nodeAddresses?: readonly IP[] },
): BgpPlan | { readonly error: string } {
  const problems: string[] = [];
  const self = nodes.find((n) => n.name === selfName);
  if (!self) return { error: `no Node object named ${selfName}` };
  const nextHop: Partial<Record<Family, IP>> = {};
  const sessionAddress: Partial<Record<Family, IP>> = {};
  for (const f of opts.families) {
    const own = primaryIP(self, f);
    if (own) sessionAddress[f] = own;
    const ip = opts.nextHopOverride?.[f] ?? own;
    if (ip) nextHop[f] = ip;
  }
  const routerId = routerIdFor(cfg, sessionAddress[4], self.name);
  if (!routerId) return { error: `${selfName} has no address to use as BGP router id` };
  const localAs = nodeAsn(self, cfg, problems);
  const rrServer = self.annotations['kube-router.io/rr.server'];
  const rrClient = self.annotations['kube-router.io/rr.client'];
  const rrClusterId = rrServer !== undefined ? clusterIdOf(rrServer) : undefined;
  if (rrServer !== undefined && !rrClusterId) problems.push(`${self.name}: kube-router.io/rr.server ${JSON.stringify(rrServer)} is not a cluster id`);

  const peers: PeerSpec[] = [];
  if (cfg.enableIbgp) {
    for (const n of nodes) {
      if (n.name === self.name) continue;
      if (nodeAsn(n, cfg, []) !== localAs) continue; // only nodes of our AS form the mesh
      const theirServer = n.annotations['kube-router.io/rr.server'];
      const theirClient = n.annotations['kube-router.io/rr.client'];
      // Route reflection: servers peer with servers and their clients; clients only with servers.
      if (rrServer !== undefined || rrClient !== undefined || theirServer !== undefined || theirClient !== undefined) {
        const selfIsServer = rrClusterId !== undefined;
        const theyAreServer = theirServer !== undefined;
        if (!selfIsServer && !theyAreServer) continue;
        if (selfIsServer && !theyAreServer && clusterIdOf(theirClient ?? '') !== rrClusterId) continue;
      } else if (!cfg.nodesFullMesh) continue;
      for (const f of opts.families) {
        const ip = primaryIP(n, f);
        if (!ip || !sessionAddress[f]) continue;
        peers.push({ address: ip, asn: localAs, port: cfg.bgpPort, kind: 'node', ...(rrClusterId !== undefined && theirClient !== undefined && theirServer === undefined ? { rrClient: true } : {}) });
      }
    }
  }
  // --enable-bfd covers the global peers (the flags'), as upstream; per-node peers ask in their own bfd entry.
  const external: PeerSpec[] = [...cfg.peers.map((p) => ({ address: p.ip, asn: p.asn, port: p.port, kind: 'external' as const, ...(p.password !== undefined ? { password: new Uint8Array(Buffer.from(p.password, 'utf8')) } : {}), ...(cfg.bfd.enabled ? { bfd: bfdFor(cfg) } : {}) })), ...annotatedPeers(self, cfg, problems, localCheck(self, problems, opts.nodeAddresses ? new Set(opts.nodeAddresses) : undefined))];
  // TTL as upstream (GoBGP's defaults): eBGP sends with TTL 1 (the peer must be directly connected)
  // unless --peer-router-multihop-ttl is 2 or more; iBGP keeps the system's default.
  const ebgpTtl = cfg.multihopTtl >= 2 ? cfg.multihopTtl : 1;
  for (const p of external) if (!peers.some((x) => x.address === p.address)) peers.push(p.asn !== localAs ? { ...p, ttl: ebgpTtl } : p);

  const communities: number[] = [];
  const communityTexts = (self.annotations['kube-router.io/node.bgp.communities'] ?? '').split(',').filter((x) => x.trim() !== '');
  if (communityTexts.length > MAX_COMMUNITIES) problems.push(`${self.name}: kube-router.io/node.bgp.communities has ${communityTexts.length} communities; only the first ${MAX_COMMUNITIES} are used`);
  for (const t of communityTexts.slice(0, MAX_COMMUNITIES)) {
    const c = parseCommunity(t);
    if (c === undefined) problems.push(`${self.name}: community ${JSON.stringify(t)} is not a:b, a number or a well-known name`);
    else if (!communities.includes(c)) communities.push(c);
  }
  const prependAs = self.annotations['kube-router.io/path-prepend.as'];
  const prependN = self.annotations['kube-router.io/path-prepend.repeat-n'];
  let prepend: Origination['prepend'];
  if (prependAs !== undefined || prependN !== undefined) {
    const asn = Number(prependAs);
    const count = Number(prependN);
    if (Number.isInteger(asn) && asn > 0 && asn <= 0xffffffff && Number.isInteger(count) && count >= 1 && count <= MAX_PREPEND) prepend = { asn, count };
    else problems.push(`${self.name}: kube-router.io/path-prepend.as and .repeat-n must both be set (an AS number and 1..${MAX_PREPEND})`);
  }
  const originations: Origination[] = ownPodCIDRs(self, cfg.clusterCidr)
    .filter((c) => opts.families.includes(familyOf(c)))
    .map((prefix) => ({ prefix, communities: [], to: cfg.advertisePodCidr ? ('all' as const) : ('nodes' as const), ...(prepend ? { prepend } : {}) }));

  const importReject: CIDR[] = [...opts.serviceRanges];
  for (const t of (self.annotations['kube-router.io/node.bgp.customimportreject'] ?? '').split(',').filter((x) => x.trim() !== '')) {
    const c = tryParseCIDR(t.trim());
    if (c) importReject.push(c);
    else problems.push(`${self.name}: customimportreject ${JSON.stringify(t)} is not a CIDR`);
  }
  // Listen addresses, as upstream: kube-router.io/bgp-local-addresses, else the node's session addresses.
  const listenText = (self.annotations['kube-router.io/bgp-local-addresses'] ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  const nodeAddrs = opts.nodeAddresses ? new Set<string>(opts.nodeAddresses) : undefined;
  const listen: IP[] = [];
  for (const t of listenText.slice(0, 16)) {
    const ip = tryParseIP(t);
    if (!ip) problems.push(`${self.name}: kube-router.io/bgp-local-addresses: ${JSON.stringify(t)} is not an IP address`);
    else if (!opts.families.includes(familyOf(ip))) problems.push(`${self.name}: kube-router.io/bgp-local-addresses: ${ip} is of a family this node does not run`);
    else if (nodeAddrs && !nodeAddrs.has(ip)) problems.push(`${self.name}: kube-router.io/bgp-local-addresses: ${ip} is not an address of this node`);
    else if (!listen.includes(ip)) listen.push(ip);
  }
  const listenAddresses = listen.length > 0 ? listen : Object.values<IP>(sessionAddress);
  return { localAs, routerId, nextHop, sessionAddress, listenAddresses, peers, originations, importReject, ...(rrClusterId ? { rrClusterId } : {}), ...(prepend ? { prepend } : {}), vipCommunities: communities, problems };
}
