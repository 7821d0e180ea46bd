/**
 * The lab's address plan and names. Everything is inside 198.18.0.0/15 (TESTING.md) and every name
 * carries the lab's prefix, so `down` can find leftovers of a crashed run by name.
 */
export const LAB_NETNS_PREFIX = 'krl-';
export const LAB_STATE_ROOT = '/run/krt-lab';

export interface LabPlan {
  readonly name: string;
  readonly nodes: number;
  readonly subnets: 1 | 2;
  /** Segment CIDRs: the first ceil(N/2) nodes on the first segment when there are two. */
  readonly segments: readonly { readonly cidr: string; readonly prefix: string; readonly gateway: string }[];
  readonly apiIP: string;
  readonly externalIP: string;
  readonly torIP: string;
  readonly podCidrBase: string; // 198.18.64.0/18, a /24 per node
  readonly serviceCidr: string;
  readonly externalIPRange: string;
  readonly lbIPRange: string;
  readonly outsideCidr: string; // "the internet" behind the external namespace
  readonly ipv6: boolean;
}

export function makePlan(name: string, nodes: number, subnets: 1 | 2, ipv6: boolean): LabPlan {
  const segments = subnets === 1 ? [{ cidr: '198.18.0.0/24', prefix: '198.18.0', gateway: '198.18.0.254' }] : [
    { cidr: '198.18.0.0/24', prefix: '198.18.0', gateway: '198.18.0.254' },
    { cidr: '198.18.1.0/24', prefix: '198.18.1', gateway: '198.18.1.254' },
  ];
  return {
    name,
    nodes,
    subnets,
    segments,
    apiIP: '198.18.0.2',
    externalIP: '198.18.0.3',
    torIP: '198.18.0.1',
    podCidrBase: '198.18.64.0/18',
    serviceCidr: '198.18.128.0/20',
    externalIPRange: '198.19.0.0/24',
    lbIPRange: '198.19.1.0/24',
    outsideCidr: '198.19.200.0/24',
    ipv6,
  };
}

export function nodeName(i: number): string {
  return `node-${i + 1}`;
}

/** Which segment node i sits on. */
export function segmentOf(plan: LabPlan, i: number): number {
  return plan.subnets === 2 && i >= Math.ceil(plan.nodes / 2) ? 1 : 0;
}

export function nodeIP(plan: LabPlan, i: number): string {
  const seg = plan.segments[segmentOf(plan, i)] as LabPlan['segments'][number];
  return `${seg.prefix}.${11 + i}`;
}

export function nodeIP6(i: number): string {
  return `2001:db8::${(11 + i).toString(16)}`;
}

export function podCidr(i: number): string {
  return `198.18.${64 + i}.0/24`;
}

export function podCidr6(i: number): string {
  return `2001:db8:64:${i.toString(16)}::/64`;
}

export const netns = {
  fabric: (lab: string) => `${LAB_NETNS_PREFIX}${lab}-fab`,
  api: (lab: string) => `${LAB_NETNS_PREFIX}${lab}-api`,
  external: (lab: string) => `${LAB_NETNS_PREFIX}${lab}-ext`,
  router: (lab: string) => `${LAB_NETNS_PREFIX}${lab}-rtr`,
  tor: (lab: string) => `${LAB_NETNS_PREFIX}${lab}-tor`,
  node: (lab: string, i: number) => `${LAB_NETNS_PREFIX}${lab}-n${i + 1}`,
  pod: (lab: string, n: number) => `${LAB_NETNS_PREFIX}${lab}-p${n}`,
};

/** Spare fabric addresses the lab never uses, for attaching your own router. */
export function spareFabricIPs(plan: LabPlan): string[] {
  const first = plan.segments[0]?.prefix ?? '198.18.0';
  return [`${first}.200`, `${first}.201`, `${first}.202`];
}
