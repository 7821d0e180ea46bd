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
export const SET_BASE = { localIPs: 'kube-router-local-ips', svip: 'kube-router-svip', svipPort: 'kube-router-svip-prt' } as const;
export const CHAIN = { services: 'KUBE-ROUTER-SERVICES', masquerade: 'KUBE-ROUTER-SVC-MASQ', hairpin: 'KUBE-ROUTER-HAIRPIN' } as const;
export const JUMP_COMMENT = { services: 'kube-router ipvs service filter', masquerade: 'kube-router ipvs masquerade', hairpin: 'kube-router ipvs hairpin' } as const;

export function setName(base: string, family: Family): string {
  return family === 6 ? `inet6:${base}` : base;
}

export function serviceId(f: Frontend, family: Family): IpvsServiceId {
  return { family, protocol: f.protocol.toLowerCase() as 'tcp' | 'udp' | 'sctp', address: f.ip, port: f.port };
}

export function ipvsServiceOf(f: Frontend, family: Family): IpvsService {
  const flags = new Set(f.schedFlags);
  return {
    id: serviceId(f, family),
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
  return f.backends.map((b) => ({ address: b.ip, port: b.port, forward: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 }));
}

/** `ip,proto:port`, as `ipset save` prints a hash:ip,port member. */
export function svipPortEntryOfId(id: { readonly address: string; readonly protocol: string; readonly port: number }): string {
  return `${id.address},${id.protocol.toLowerCase()}:${id.port}`;
}

export function svipPortEntry(f: Pick<Frontend, 'ip' | 'protocol' | 'port'>): string {
  return `${f.ip},${f.protocol.toLowerCase()}:${f.port}`;
}

/** Frontends whose address lives on kube-dummy-if (every kind but NodePort, and not a node address). */
export function isVip(f: Frontend, localIPs: ReadonlySet<string>): boolean {
  return f.kind !== 'nodeport' && !localIPs.has(f.ip);
}

export function sameService(a: IpvsService, b: IpvsService): boolean {
  return a.scheduler === b.scheduler && a.timeout === b.timeout && a.netmask === b.netmask && !!a.flags.persistent === !!b.flags.persistent && !!a.flags.sched1 === !!b.flags.sched1 && !!a.flags.sched2 === !!b.flags.sched2 && !!a.flags.sched3 === !!b.flags.sched3 && !!a.flags.onePacket === !!b.flags.onePacket;
}

export function sameDestination(a: IpvsDestination, b: IpvsDestination): boolean {
  return a.forward === b.forward && a.weight === b.weight && a.upperThreshold === b.upperThreshold && a.lowerThreshold === b.lowerThreshold;
}

const ICMP4 = ['echo-request', 'destination-unreachable', 'time-exceeded'];
const ICMP6 = ['echo-request', 'destination-unreachable', 'time-exceeded', 'packet-too-big', 'neighbour-solicitation', 'neighbour-advertisement'];

/**
 * Our chains and the jumps into them (as data, `iptables-save` form). Filter: on VIPs only service
 * ports and the common ICMP types answer (with --ipvs-permit-all, as upstream), behind one jump at the
 * top of INPUT for packets to a VIP; nat: hairpin SNAT to the VIP for a backend reaching itself, then
 * masquerade of IPVS-NATed traffic whose source is not a pod (or all of it with --masquerade-all),
 * except frontends that keep the client address (externalTrafficPolicy Local), behind two jumps at the
 * top of POSTROUTING. Pure.
 */
export function ipvsChainSpecs(model: FamilyModel, opts: { readonly rejectUnserved: boolean; readonly masqueradeAll: boolean }): OwnedChainSpec[] {
  const f = model.family;
  const host = f === 4 ? '/32' : '/128';
  const services: string[] = [];
  if (opts.rejectUnserved) {
    for (const t of f === 4 ? ICMP4 : ICMP6) services.push(`-p ${f === 4 ? 'icmp' : 'ipv6-icmp'} --${f === 4 ? 'icmp' : 'icmpv6'}-type ${t} -j ACCEPT`);
    services.push(`-m set --match-set ${setName(SET_BASE.svipPort, f)} dst,dst -j ACCEPT`);
    services.push(`-m set ! --match-set ${setName(SET_BASE.localIPs, f)} dst -j REJECT --reject-with ${f === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'}`);
  }
  const hairpin: string[] = [];
  const masquerade: string[] = [];
  const frontends = [...model.frontends.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port || a.protocol.localeCompare(b.protocol)));
  for (const fe of frontends) {
    if (!fe.hairpin) continue;
    for (const b of fe.backends) hairpin.push(`-s ${b.ip}${host} -d ${b.ip}${host} -m ipvs --vaddr ${fe.ip}${host} --vport ${fe.port} -j SNAT --to-source ${fe.ip}`);
  }
  if (!opts.masqueradeAll) {
    for (const fe of frontends) if (!fe.masquerade) masquerade.push(`-m ipvs --vaddr ${fe.ip}${host} --vport ${fe.port} -j RETURN`);
    for (const c of model.podCIDRs) masquerade.push(`-s ${c} -j RETURN`);
  }
  masquerade.push('-m ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE');
  const j = jumpRules(f);
  return [
    { table: 'filter', chains: [{ name: CHAIN.services, rules: services }], jumps: [{ from: 'INPUT', rules: [j.filterInput], placement: 'top' }] },
    { table: 'nat', chains: [{ name: CHAIN.hairpin, rules: hairpin }, { name: CHAIN.masquerade, rules: masquerade }], jumps: [{ from: 'POSTROUTING', rules: [j.natHairpin, j.natMasquerade], placement: 'top' }] },
  ];
}

/** The jumps into our chains, one per built-in chain, in `iptables-save` form without the `-A CHAIN` part. */
export function jumpRules(family: Family): { readonly filterInput: string; readonly natHairpin: string; readonly natMasquerade: string } {
  return {
    filterInput: `-m comment --comment "${JUMP_COMMENT.services}" -m set --match-set ${setName(SET_BASE.svip, family)} dst -j ${CHAIN.services}`,
    natHairpin: `-m comment --comment "${JUMP_COMMENT.hairpin}" -j ${CHAIN.hairpin}`,
    natMasquerade: `-m comment --comment "${JUMP_COMMENT.masquerade}" -j ${CHAIN.masquerade}`,
  };
}
