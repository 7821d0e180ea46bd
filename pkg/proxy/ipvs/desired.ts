/**
 * Pure: what the IPVS datapath wants in the kernel for one family's model (upstream's IPVS layout): one IPVS
 * virtual service per frontend, masquerading destinations, VIPs on kube-dummy-if, the three ipsets,
 * and our iptables chains (the INPUT filter for VIPs, masquerade and hairpin SNAT).
 */
import type { Family } from '../../util/ip.js';
import type { IpvsDestination, IpvsService, IpvsServiceId } from '../../linux/ipvs/types.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import type { OwnedChainSpec } from '../../linux/iptables/owned-chain.js';

export const DUMMY_IF = 'kube-dummy-if';
/**
 * `dsr` records the frontends served by direct server return (`address,proto:port`): their IPVS
 * services are found by firewall mark, and the marks ours are those assigned to these members.
 */
export const SET_BASE = { localIPs: 'kube-router-local-ips', svip: 'kube-router-svip', svipPort: 'kube-router-svip-prt', dsr: 'kube-router-dsr' } as const;
export const CHAIN = { services: 'KUBE-ROUTER-SERVICES', masquerade: 'KUBE-ROUTER-SVC-MASQ', hairpin: 'KUBE-ROUTER-HAIRPIN', dsr: 'KUBE-ROUTER-DSR' } as const;
export const JUMP_COMMENT = { services: 'kube-router ipvs service filter', masquerade: 'kube-router ipvs masquerade', hairpin: 'kube-router ipvs hairpin', dsr: 'kube-router ipvs dsr' } as const;
/** The routing table marked DSR packets are looked up in (upstream's `kube-router-dsr`): `local default dev lo`, so IPVS takes them. */
export const DSR_TABLE = 78;
export const DSR_RULE_PRIORITY = 32764;
/**
 * MSS clamped on the SYN-ACK a DSR pod sends: the client never sees the IP-in-IP header its requests
 * carry to the pod, so its segments must leave room for it (1500 − two IPv4 headers − TCP header).
 */
export const DSR_MSS = 1440;

export { assignFwmarks } from '../../linux/ipvs/dsr-marks.js';

export function setName(base: string, family: Family): string {
  return family === 6 ? `inet6:${base}` : base;
}

export function serviceId(f: Frontend, family: Family, fwmark?: number): IpvsServiceId {
  return fwmark !== undefined ? { family, fwmark } : { family, protocol: f.protocol.toLowerCase() as 'tcp' | 'udp' | 'sctp', address: f.ip, port: f.port };
}

/** With `fwmark`, the DSR form: the service is found by the mark our mangle rule gives its packets. */
export function ipvsServiceOf(f: Frontend, family: Family, fwmark?: number): IpvsService {
  const flags = new Set(f.schedFlags);
  return {
    id: serviceId(f, family, fwmark),
    scheduler: f.scheduler,
    flags: {
      ...(f.affinitySeconds !== undefined ? { persistent: true } : {}),
      ...(flags.has('flag-1') ? { sched1: true } : {}),
      ...(flags.has('flag-2') ? { sched2: true } : {}),
      ...(flags.has('flag-3') ? { sched3: true } : {}),
    },
    timeout: f.affinitySeconds ?? 0,
    netmask: family === 4 ? 0xffffffff : 128,
  };
}

export function destinationsOf(f: Frontend): IpvsDestination[] {
  return f.backends.map((b) => ({ address: b.ip, port: b.port, forward: f.dsr && isDsrCapable(f) ? 'tunnel' : 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 }));
}

/** `ip,proto:port`, as `ipset save` prints a hash:ip,port member. */
export function svipPortEntryOfId(id: { readonly address: string; readonly protocol: string; readonly port: number }): string {
  return `${id.address},${id.protocol.toLowerCase()}:${id.port}`;
}

export function svipPortEntry(f: Pick<Frontend, 'ip' | 'protocol' | 'port'>): string {
  return `${f.ip},${f.protocol.toLowerCase()}:${f.port}`;
}

/** DSR is IPv4 IP-in-IP to the backend's own port (no port translation in tunnel mode). */
export function isDsrCapable(f: Frontend): boolean {
  return f.dsr !== undefined && !f.ip.includes(':') && (f.kind === 'external' || f.kind === 'loadbalancer');
}

/** Frontends whose address lives on kube-dummy-if (every kind but NodePort, not a node address, not DSR: its director has no VIP). */
export function isVip(f: Frontend, localIPs: ReadonlySet<string>): boolean {
  return f.kind !== 'nodeport' && !localIPs.has(f.ip) && !isDsrCapable(f);
}

/** The mangle chain of DSR: mark packets to each DSR frontend, and clamp the MSS of its pods' SYN-ACKs. In save form. Pure. */
export function dsrChainRules(frontends: readonly Frontend[], marks: ReadonlyMap<string, number>): string[] {
  const out: string[] = [];
  for (const f of [...frontends].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port || a.protocol.localeCompare(b.protocol)))) {
    const mark = marks.get(svipPortEntry(f));
    if (mark === undefined) continue;
    const p = f.protocol.toLowerCase();
    out.push(`-d ${f.ip}/32 -p ${p} -m ${p} --dport ${f.port} -j MARK --set-xmark 0x${mark.toString(16)}/0xffffffff`);
    if (p === 'tcp') out.push(`-s ${f.ip}/32 -p tcp -m tcp --sport ${f.port} --tcp-flags SYN,RST SYN -j TCPMSS --set-mss ${DSR_MSS}`);
  }
  return out;
}

export function sameService(a: IpvsService, b: IpvsService): boolean {
  return a.scheduler === b.scheduler && a.timeout === b.timeout && a.netmask === b.netmask && !!a.flags.persistent === !!b.flags.persistent && !!a.flags.sched1 === !!b.flags.sched1 && !!a.flags.sched2 === !!b.flags.sched2 && !!a.flags.sched3 === !!b.flags.sched3 && !!a.flags.onePacket === !!b.flags.onePacket;
}

export function sameDestination(a: IpvsDestination, b: IpvsDestination): boolean {
  return a.forward === b.forward && a.weight === b.weight && a.upperThreshold === b.upperThreshold && a.lowerThreshold === b.lowerThreshold;
}

/**
 * The ICMP types that answer on a VIP, by number: `iptables-save` prints `-p icmp -m icmp --icmp-type 8`
 * whatever was written, and a rule must be written as it is read back or every resync rewrites it.
 */
const ICMP4 = [8 /* echo-request */, 3 /* destination-unreachable */, 11 /* time-exceeded */];
const ICMP6 = [128 /* echo-request */, 1 /* destination-unreachable */, 3 /* time-exceeded */, 2 /* packet-too-big */, 135 /* neighbour-solicitation */, 136 /* neighbour-advertisement */];

/**
 * Our chains and the jumps into them (as data, `iptables-save` form). Filter: on VIPs only service
 * ports and the common ICMP types answer (with --ipvs-permit-all, as upstream), behind one jump at the
 * top of INPUT for packets to a VIP; nat: hairpin SNAT to the VIP for a backend reaching itself, then
 * masquerade of IPVS-NATed traffic whose source is not a pod (or all of it with --masquerade-all),
 * except frontends that keep the client address (externalTrafficPolicy Local), behind two jumps at the
 * top of POSTROUTING. Pure.
 */
export function ipvsChainSpecs(model: FamilyModel, opts: { readonly rejectUnserved: boolean; readonly masqueradeAll: boolean }, dsrMarks: ReadonlyMap<string, number> = new Map()): OwnedChainSpec[] {
  const f = model.family;
  const host = f === 4 ? '/32' : '/128';
  const services: string[] = [];
  if (opts.rejectUnserved) {
    for (const t of f === 4 ? ICMP4 : ICMP6) services.push(f === 4 ? `-p icmp -m icmp --icmp-type ${t} -j ACCEPT` : `-p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j ACCEPT`);
    services.push(`-m set --match-set ${setName(SET_BASE.svipPort, f)} dst,dst -j ACCEPT`);
    services.push(`-m set ! --match-set ${setName(SET_BASE.localIPs, f)} dst -j REJECT --reject-with ${f === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'}`);
  }
  const hairpin: string[] = [];
  const masquerade: string[] = [];
  // Only the frontends that have rules are sorted (few of 10,000, and this runs on every partial sync).
  const byAddress = (a: Frontend, b: Frontend): number => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port || a.protocol.localeCompare(b.protocol));
  const withHairpin: Frontend[] = [];
  const keepingClient: Frontend[] = [];
  const dsr: Frontend[] = [];
  for (const fe of model.frontends.values()) {
    if (fe.hairpin) withHairpin.push(fe);
    if (!fe.masquerade) keepingClient.push(fe);
    if (isDsrCapable(fe)) dsr.push(fe);
  }
  for (const fe of withHairpin.sort(byAddress)) {
    for (const b of fe.backends) hairpin.push(`-s ${b.ip}${host} -d ${b.ip}${host} -m ipvs --vaddr ${fe.ip}${host} --vport ${fe.port} -j SNAT --to-source ${fe.ip}`);
  }
  if (!opts.masqueradeAll) {
    for (const fe of keepingClient.sort(byAddress)) masquerade.push(`-m ipvs --vaddr ${fe.ip}${host} --vport ${fe.port} -j RETURN`);
    for (const c of model.podCIDRs) masquerade.push(`-s ${c} -j RETURN`);
  }
  masquerade.push('-m ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE');
  const j = jumpRules(f);
  return [
    { table: 'filter', chains: [{ name: CHAIN.services, rules: services }], jumps: [{ from: 'INPUT', rules: [j.filterInput], placement: 'top' }] },
    { table: 'nat', chains: [{ name: CHAIN.hairpin, rules: hairpin }, { name: CHAIN.masquerade, rules: masquerade }], jumps: [{ from: 'POSTROUTING', rules: [j.natHairpin, j.natMasquerade], placement: 'top' }] },
    // DSR exists in IPv4 only; its chain is there (empty without DSR frontends) so it never goes stale.
    ...(f === 4
      ? [{ table: 'mangle' as const, chains: [{ name: CHAIN.dsr, rules: dsrChainRules(dsr, dsrMarks) }], jumps: [{ from: 'PREROUTING', rules: [j.mangleDsr], placement: 'top' as const }, { from: 'OUTPUT', rules: [j.mangleDsr], placement: 'top' as const }] }]
      : []),
  ];
}

/** The jumps into our chains, one per built-in chain, in `iptables-save` form without the `-A CHAIN` part. */
export function jumpRules(family: Family): { readonly filterInput: string; readonly natHairpin: string; readonly natMasquerade: string; readonly mangleDsr: string } {
  return {
    mangleDsr: `-m comment --comment "${JUMP_COMMENT.dsr}" -j ${CHAIN.dsr}`,
    filterInput: `-m comment --comment "${JUMP_COMMENT.services}" -m set --match-set ${setName(SET_BASE.svip, family)} dst -j ${CHAIN.services}`,
    natHairpin: `-m comment --comment "${JUMP_COMMENT.hairpin}" -j ${CHAIN.hairpin}`,
    natMasquerade: `-m comment --comment "${JUMP_COMMENT.masquerade}" -j ${CHAIN.masquerade}`,
  };
}
