import type { CIDR, Family, IP } from '../util/ip.js';

export type ProxyBackendChoice = 'auto' | 'ipvs' | 'nftables';
export type OverlayType = 'subnet' | 'full';
export type OverlayEncap = 'ipip' | 'fou' | 'vxlan';
export type RouterIdChoice = { readonly kind: 'node-ip' } | { readonly kind: 'generate' } | { readonly kind: 'fixed'; readonly id: IP };

export interface ExternalPeerConfig {
  readonly ip: IP;
  readonly asn: number;
  /** Decoded TCP MD5 password; undefined: none. */
  readonly password?: string;
  readonly port: number;
}

export interface RouterConfig {
  readonly clusterAsn: number;
  readonly nodesFullMesh: boolean;
  readonly enableIbgp: boolean;
  readonly peers: readonly ExternalPeerConfig[];
  readonly multihopTtl: number;
  readonly advertiseClusterIP: boolean;
  readonly advertiseExternalIP: boolean;
  readonly advertiseLoadBalancerIP: boolean;
  readonly advertisePodCidr: boolean;
  readonly overrideNextHop: boolean;
  readonly routerId: RouterIdChoice;
  readonly bgpPort: number;
  readonly holdTimeMs: number;
  /** --bgp-max-prefixes: per peer, 0 for none. */
  readonly maxPrefixes: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly timeMs: number; readonly deferralMs: number };
  readonly bfd: { readonly enabled: boolean; readonly port: number; readonly multiplier: number; readonly minTxMs: number; readonly minRxMs: number };
  readonly syncPeriodMs: number;
  readonly injectedRoutesSyncPeriodMs: number;
  readonly overlay: { readonly enabled: boolean; readonly type: OverlayType; readonly encap: OverlayEncap; readonly port: number };
  readonly podEgress: boolean;
  readonly enableCni: boolean;
  readonly autoMtu: boolean;
  readonly cniConfFile: string;
  /** --iface / --iface-regex: which interface carries routes and tunnels when a node has several. */
  readonly iface: { readonly kind: 'default' } | { readonly kind: 'name'; readonly name: string } | { readonly kind: 'regex'; readonly pattern: string };
  /** From the removed --cluster-cidr flag: the pod network where nodes carry no pod CIDR. */
  readonly clusterCidr?: CIDR;
}

export interface ProxyConfig {
  readonly backend: ProxyBackendChoice;
  readonly syncPeriodMs: number;
  readonly masqueradeAll: boolean;
  readonly hairpinMode: boolean;
  readonly nodePortBindOnAllIP: boolean;
  readonly permitAll: boolean;
  readonly gracefulTermination: boolean;
  readonly gracefulPeriodMs: number;
  readonly excludedCidrs: readonly CIDR[];
  readonly tcpTimeoutMs: number;
  readonly tcpFinTimeoutMs: number;
  readonly udpTimeoutMs: number;
  readonly nodePortRange: { readonly min: number; readonly max: number };
  /** --service-traffic-counters: the nftables datapath's per-Service counters (with a metrics port). */
  readonly serviceTrafficCounters: boolean;
  /** --cleanup-kube-proxy: remove kube-proxy's objects at start (upstream kube-router's are always taken over). */
  readonly cleanupKubeProxy: boolean;
}

export interface FirewallConfig {
  readonly syncPeriodMs: number;
  readonly defaultDeny: boolean;
  /** --use-nftables-for-netpol: nftables; without it auto: iptables + ipset, nftables where those are not installed. */
  readonly backend: 'auto' | 'nftables';
}

export interface KubeRouterConfig {
  readonly runRouter: boolean;
  readonly runServiceProxy: boolean;
  readonly runFirewall: boolean;
  readonly runLoadBalancer: boolean;
  readonly kubeconfig: string;
  readonly master: string;
  readonly nodeName: string;
  readonly cleanupConfig: boolean;
  readonly cacheSyncTimeoutMs: number;
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly serviceClusterIPRanges: readonly CIDR[];
  readonly serviceExternalIPRanges: readonly CIDR[];
  readonly loadBalancerIPRanges: readonly CIDR[];
  readonly strictExternalIPValidation: boolean;
  readonly health: { readonly addr: string; readonly port: number };
  readonly metrics: { readonly addr: string; readonly port: number; readonly path: string };
  readonly verbosity: number;
  readonly runtimeEndpoint: string;
  readonly router: RouterConfig;
  /**
   * The daemon's local inspection socket, read by `kube-router proxy|routes|bgp` (KUBE_ROUTER_SOCKET;
   * KUBE_ROUTER_BGP_SOCKET, its earlier name, still works).
   */
  readonly inspectSocket: string;
  readonly proxy: ProxyConfig;
  readonly firewall: FirewallConfig;
  /** --run-loadbalancer's allocator: its classes, re-walk period and Lease (identity POD_NAME, namespace POD_NAMESPACE or the pod's). */
  readonly loadBalancer: { readonly defaultClass: boolean; readonly syncPeriodMs: number; readonly leaseIdentity: string; readonly leaseNamespace: string };
}

/** The IP families this daemon serves (--enable-ipv4, --enable-ipv6), IPv4 first: every controller's one list. */
export function enabledFamilies(config: Pick<KubeRouterConfig, 'enableIPv4' | 'enableIPv6'>): Family[] {
  return [...(config.enableIPv4 ? [4 as const] : []), ...(config.enableIPv6 ? [6 as const] : [])];
}
