/**
 * The lab's address plan and names. Everything is inside 198.18.0.0/15 (docs/testing.md, network safety) and every name
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
  /** A second network every node is on (`eth1`, the /24 after the segments), for --iface tests. */
  readonly dataPrefix?: string;
}

export const DEFAULT_FABRIC_CIDR = '198.18.0.0/24';

/**
 * The fabric is a /24 inside 198.18.0.0/18 (the rest of 198.18.0.0/15 holds pod CIDRs, services and
 * the outside world); with two segments the second is the next /24. Returns an error for anything else.
 */
export function fabricPrefixes(cidr: string, subnets: 1 | 2): string[] | { readonly error: string } {
  const m = /^198\.18\.(\d{1,2})\.0\/24$/.exec(cidr.trim());
  const third = m ? Number(m[1]) : NaN;
  if (!m || third + subnets - 1 > 63) return { error: `--fabric-cidr must be a /24 from 198.18.0.0/24 to 198.18.${64 - subnets}.0/24 (pods use 198.18.64.0/18), got ${cidr}` };
  return Array.from({ length: subnets }, (_, k) => `198.18.${third + k}`);
}

export function makePlan(name: string, nodes: number, subnets: 1 | 2, ipv6: boolean, fabricCidr: string = DEFAULT_FABRIC_CIDR, dataNetwork = false): LabPlan {
  const prefixes = fabricPrefixes(fabricCidr, subnets);
  if (!Array.isArray(prefixes)) throw new Error(prefixes.error);
  const segments = prefixes.map((prefix) => ({ cidr: `${prefix}.0/24`, prefix, gateway: `${prefix}.254` }));
  const first = prefixes[0] as string;
  return {
    name,
    nodes,
    subnets,
    segments,
    apiIP: `${first}.2`,
    externalIP: `${first}.3`,
    torIP: `${first}.1`,
    podCidrBase: '198.18.64.0/18',
    serviceCidr: '198.18.128.0/20',
    externalIPRange: '198.19.0.0/24',
    lbIPRange: '198.19.1.0/24',
    outsideCidr: '198.19.200.0/24',
    ipv6,
    ...(dataNetwork ? { dataPrefix: nextPrefix(prefixes[prefixes.length - 1] as string) } : {}),
  };
}

function nextPrefix(prefix: string): string {
  const [a, b, c] = prefix.split('.').map(Number);
  return `${a ?? 0}.${b ?? 0}.${(c ?? 0) + 1}`;
}

/** A node's address on the data network (eth1). */
export function nodeDataIP(plan: LabPlan, i: number): string | undefined {
  return plan.dataPrefix ? `${plan.dataPrefix}.${11 + i}` : undefined;
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
  return i === 0 ? `2001:db8:64::/64` : `2001:db8:64:${i.toString(16)}::/64`;
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
