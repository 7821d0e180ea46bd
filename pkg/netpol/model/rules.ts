import type { CIDR, Family } from '../../util/ip.js';
import type { PolicyProtocol } from '../../k8s/kinds/protocol.js';

/**
 * The firewall's compiled rules, independent of the kernel subsystem: one model, rendered to
 * `iptables-save` lines (iptables backend) or to nft rules (nftables backend). Every match the
 * compiler emits is one of these; a rule is its matches in order and one verdict.
 */
export type FwMatch =
  /** conntrack RELATED or ESTABLISHED. */
  | { readonly kind: 'established' }
  | { readonly kind: 'addr'; readonly dir: 'src' | 'dst'; readonly cidr: CIDR }
  /** The packet's source (or destination) address is (or is not) in one of our address sets. */
  | { readonly kind: 'set'; readonly set: string; readonly dir: 'src' | 'dst'; readonly negate?: boolean }
  /** destination address, protocol and destination port in a named-port set. */
  | { readonly kind: 'named-port'; readonly set: string }
  /** The address is (is not) one of this node's own (addrtype LOCAL, fib type local). */
  | { readonly kind: 'local'; readonly dir: 'src' | 'dst'; readonly negate?: boolean }
  /** Whether the packet mark has every bit of `bits`. */
  | { readonly kind: 'mark'; readonly bits: number; readonly negate?: boolean }
  /** Whether the packet mark has none of `bits`. */
  | { readonly kind: 'mark-clear'; readonly bits: number }
  /** A layer-4 protocol, and optionally its destination port or range. */
  | { readonly kind: 'port'; readonly protocol: PolicyProtocol; readonly port?: number; readonly endPort?: number }
  | { readonly kind: 'icmp'; readonly type: number }
  /** At most `perMinute` a minute after a burst of `burst`. */
  | { readonly kind: 'limit'; readonly perMinute: number; readonly burst: number };

export type FwVerdict =
  | { readonly kind: 'return' }
  | { readonly kind: 'jump'; readonly chain: string }
  | { readonly kind: 'goto'; readonly chain: string }
  /** mark = (mark & ~mask) | value. */
  | { readonly kind: 'mark'; readonly value: number; readonly mask: number }
  | { readonly kind: 'log'; readonly prefix: string; readonly group: number }
  | { readonly kind: 'reject' };

export interface FwRule {
  readonly match: readonly FwMatch[];
  readonly verdict: FwVerdict;
  /** For an allow rule of a policy: which rule of the policy it compiles (explain). Not rendered. */
  readonly origin?: RuleOrigin;
  /**
   * One of a chain's run of rules that each send the packets of one set's pods to a chain (the
   * namespace dispatch): the nftables backend renders the run as one lookup in a verdict map.
   */
  readonly dispatch?: true;
}

/**
 * `ns/name` (a NetworkPolicy) or `name` (a ClusterNetworkPolicy, with its tier and the rule's
 * action), `ingress` or `egress`, and the index of the rule in that list of the policy's spec.
 */
export interface RuleOrigin {
  readonly policy: string;
  readonly direction: 'ingress' | 'egress';
  readonly rule: number;
  readonly tier?: 'Admin' | 'Baseline';
  readonly action?: 'Accept' | 'Deny' | 'Pass';
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function iptablesMatch(m: FwMatch, family: Family): string {
  switch (m.kind) {
    case 'established':
      return '-m conntrack --ctstate RELATED,ESTABLISHED';
    case 'addr':
      return `${m.dir === 'src' ? '-s' : '-d'} ${m.cidr}`;
    case 'set':
      return `-m set ${m.negate === true ? '! ' : ''}--match-set ${m.set} ${m.dir}`;
    case 'named-port':
      return `-m set --match-set ${m.set} dst,dst`;
    case 'local':
      return `-m addrtype ${m.negate === true ? '! ' : ''}--${m.dir}-type LOCAL`;
    case 'mark':
      return `-m mark ${m.negate === true ? '! ' : ''}--mark ${hex(m.bits)}/${hex(m.bits)}`;
    case 'mark-clear':
      return `-m mark --mark 0x0/${hex(m.bits)}`;
    // `-p PROTO` itself is printed first by iptables-save (iptablesRule puts it there).
    case 'port':
      return m.port !== undefined ? `-m ${m.protocol} --dport ${m.port}${m.endPort !== undefined ? `:${m.endPort}` : ''}` : '';
    case 'icmp':
      return family === 4 ? `-m icmp --icmp-type ${m.type}` : `-m icmp6 --icmpv6-type ${m.type}`;
    case 'limit':
      return `-m limit --limit ${m.perMinute}/min --limit-burst ${m.burst}`;
  }
}

function iptablesVerdict(v: FwVerdict, family: Family): string {
  switch (v.kind) {
    case 'return':
      return '-j RETURN';
    case 'jump':
      return `-j ${v.chain}`;
    case 'goto':
      return `-g ${v.chain}`;
    case 'mark':
      return `-j MARK --set-xmark ${hex(v.value)}/${hex(v.mask)}`;
    case 'log':
      return `-j NFLOG --nflog-prefix "${v.prefix}" --nflog-group ${v.group}`;
    case 'reject':
      return `-j REJECT --reject-with ${family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'}`;
  }
}

/**
 * One rule as `iptables-save` prints it (without `-A CHAIN`): what the iptables backend compares and
 * writes. iptables-save prints the protocol (`-p`) before every match, whatever the order given.
 */
export function iptablesRule(r: FwRule, family: Family): string {
  const proto = r.match.find((m) => m.kind === 'port' || m.kind === 'icmp');
  const p = proto === undefined ? [] : [`-p ${proto.kind === 'port' ? proto.protocol : family === 4 ? 'icmp' : 'ipv6-icmp'}`];
  return [...p, ...r.match.map((m) => iptablesMatch(m, family)), iptablesVerdict(r.verdict, family)].filter((x) => x !== '').join(' ');
}
