import { FlagGroup as G, type FlagSpec } from './flag-spec.js';

const S = 1000;
const M = 60 * S;
const U16 = 65535;
const U32 = 4294967295;

/**
 * Every flag of upstream kube-router v2.11 (pkg/options/options.go): same names, defaults and value
 * syntax, so that upstream manifests run unchanged. Usage texts are ours.
 */
export const UPSTREAM_FLAGS: readonly FlagSpec[] = [
  // General
  { name: 'run-router', kind: 'bool', default: true, group: G.General, usage: 'Enable pod networking: BGP speaker, routes, overlay and CNI config.' },
  { name: 'run-service-proxy', kind: 'bool', default: true, group: G.General, usage: 'Enable the service proxy (replaces kube-proxy).' },
  { name: 'run-firewall', kind: 'bool', default: true, group: G.General, usage: 'Enable the NetworkPolicy firewall.' },
  { name: 'run-loadbalancer', kind: 'bool', default: false, group: G.LoadBalancer, usage: 'Enable the LoadBalancer IP allocator (one leader in the cluster, Lease kube-router-lballoc).' },
  { name: 'kubeconfig', kind: 'string', default: '', group: G.General, usage: 'Path to a kubeconfig file. Empty: in-cluster configuration.' },
  { name: 'master', kind: 'string', default: '', group: G.General, usage: 'Kubernetes API server address; overrides the kubeconfig server.' },
  { name: 'hostname-override', kind: 'string', default: '', group: G.General, usage: 'Node name to use instead of NODE_NAME or the host name.' },
  { name: 'cleanup-config', kind: 'bool', default: false, group: G.General, usage: 'Remove every kernel object kube-router owns, then exit.' },
  { name: 'cache-sync-timeout', kind: 'duration', default: 1 * M, group: G.General, usage: 'Exit with an error if the API caches have not synced within this time.' },
  { name: 'enable-ipv4', kind: 'bool', default: true, group: G.General, usage: 'Handle IPv4.' },
  { name: 'enable-ipv6', kind: 'bool', default: false, group: G.General, usage: 'Handle IPv6.' },
  { name: 'service-cluster-ip-range', kind: 'stringSlice', default: ['10.96.0.0/12'], group: G.General, usage: 'Service ClusterIP range(s), at most one per family.' },
  { name: 'service-external-ip-range', kind: 'stringSlice', default: [], group: G.General, usage: 'Ranges that service externalIPs may come from.' },
  { name: 'loadbalancer-ip-range', kind: 'stringSlice', default: [], group: G.General, usage: 'Ranges that LoadBalancer IPs may come from (and the allocator pool).' },
  { name: 'strict-external-ip-validation', kind: 'bool', default: true, group: G.General, usage: 'Ignore externalIPs and LoadBalancer IPs outside the ranges above.' },
  { name: 'health-addr', kind: 'string', default: '', group: G.General, usage: 'Address of the /healthz listener (empty: all addresses).' },
  { name: 'health-port', kind: 'uint', default: 20244, max: U16, group: G.General, usage: 'Port of the /healthz listener; 0 turns HTTP off.' },
  { name: 'metrics-addr', kind: 'string', default: '', group: G.General, usage: 'Address of the Prometheus listener (empty: all addresses).' },
  { name: 'metrics-port', kind: 'uint', default: 0, max: U16, group: G.General, usage: 'Port of the Prometheus listener; 0 turns metrics off.' },
  { name: 'metrics-path', kind: 'string', default: '/metrics', group: G.General, usage: 'HTTP path of the Prometheus metrics.' },
  { name: 'enable-pprof', kind: 'bool', default: false, group: G.General, usage: 'Accepted for compatibility; Node has no pprof (use --inspect).', notImplemented: 'Node has no pprof; use node --inspect' },
  { name: 'runtime-endpoint', kind: 'string', default: '', group: G.General, usage: 'CRI socket (unix:///run/containerd/containerd.sock): how DSR finds a backend pod\'s process to set its tunnel. Hairpin mode comes from the CNI config.' },
  { name: 'v', short: 'v', kind: 'string', default: '0', group: G.General, usage: 'Log verbosity (0 errors and info, 1 one line per sync, 2+ detail).' },
  { name: 'version', short: 'V', kind: 'bool', default: false, group: G.General, usage: 'Print the version and exit.' },
  { name: 'help', short: 'h', kind: 'bool', default: false, group: G.General, usage: 'Print this help and exit.' },

  // Router
  { name: 'cluster-asn', kind: 'uint', default: 0, max: U32, group: G.Router, usage: 'ASN of the iBGP mesh (0: 64512). Private: 64512-65535 or 4200000000-4294967294.' },
  { name: 'nodes-full-mesh', kind: 'bool', default: true, group: G.Router, usage: 'Every node peers with every node; otherwise nodes with equal kube-router.io/node.asn.' },
  { name: 'enable-ibgp', kind: 'bool', default: true, group: G.Router, usage: 'Peer with the other nodes of the cluster ASN.' },
  { name: 'peer-router-ips', kind: 'stringSlice', default: [], group: G.Router, usage: 'External BGP peers every node peers with.' },
  { name: 'peer-router-asns', kind: 'uintSlice', default: [], group: G.Router, usage: 'ASN of each --peer-router-ips entry, in order.' },
  { name: 'peer-router-passwords', kind: 'stringSlice', default: [], group: G.Router, usage: 'Base64 TCP MD5 password of each peer, in order (empty entry: none).' },
  { name: 'peer-router-passwords-file', kind: 'string', default: '', group: G.Router, usage: 'File holding one line in the --peer-router-passwords format; the flag wins.' },
  { name: 'peer-router-ports', kind: 'uintSlice', default: [], group: G.Router, usage: 'Remote port of each peer, in order (default 179).' },
  { name: 'peer-router-multihop-ttl', kind: 'uint', default: 0, max: 255, group: G.Router, usage: 'TTL of eBGP sessions when 2 or more (otherwise eBGP sends with TTL 1: the peer must be directly connected).' },
  { name: 'advertise-cluster-ip', kind: 'bool', default: false, group: G.Router, usage: 'Advertise service ClusterIPs to external peers.' },
  { name: 'advertise-external-ip', kind: 'bool', default: false, group: G.Router, usage: 'Advertise service externalIPs to external peers.' },
  { name: 'advertise-loadbalancer-ip', kind: 'bool', default: false, group: G.Router, usage: 'Advertise LoadBalancer ingress IPs to external peers.' },
  { name: 'advertise-pod-cidr', kind: 'bool', default: true, group: G.Router, usage: "Advertise this node's pod CIDR(s) to external peers." },
  { name: 'override-nexthop', kind: 'bool', default: false, group: G.Router, usage: 'Next hop self toward external peers: our address on each session (not on routes between nodes).' },
  { name: 'router-id', kind: 'string', default: '', group: G.Router, usage: 'BGP router id (IPv4 form), or "generate" to derive it from the node IP.' },
  { name: 'bgp-port', kind: 'uint', default: 179, max: U16, group: G.Router, usage: 'Port the BGP speaker listens on and connects to.' },
  { name: 'bgp-holdtime', kind: 'duration', default: 90 * S, group: G.Router, usage: 'BGP hold time, 3s to 18h12m16s.' },
  { name: 'bgp-graceful-restart', kind: 'bool', default: false, group: G.Router, usage: 'RFC 4724 graceful restart: routes survive a restart of the speaker.' },
  { name: 'bgp-graceful-restart-time', kind: 'duration', default: 90 * S, group: G.Router, usage: 'Graceful restart time (at most 4095s).' },
  { name: 'bgp-graceful-restart-deferral-time', kind: 'duration', default: 360 * S, group: G.Router, usage: 'Graceful restart deferral time (at most 18h).' },
  { name: 'enable-bfd', kind: 'bool', default: false, group: G.Router, usage: 'BFD (RFC 5880/5881, our own) on the sessions to the global external peers (--peer-router-ips); a BFD Down closes the BGP session and withdraws its routes at once. Per-node peers ask in their kube-router.io/peers bfd entry.' },
  { name: 'bfd-port', kind: 'uint', default: 3784, max: U16, group: G.Router, usage: 'UDP port of single-hop BFD sessions (multihop ones use 4784, RFC 5883).' },
  { name: 'bfd-detection-multiplier', kind: 'uint', default: 3, max: 255, group: G.Router, usage: 'BFD detection multiplier: packets missed before the peer is declared down.' },
  { name: 'bfd-desired-min-tx-interval', kind: 'duration', default: 1 * S, group: G.Router, usage: 'BFD desired minimum transmit interval (at least 10ms; at most 1 packet a second until the session is up).' },
  { name: 'bfd-required-min-rx-interval', kind: 'duration', default: 1 * S, group: G.Router, usage: 'BFD required minimum receive interval (at least 10ms).' },
  { name: 'gobgp-admin-address', kind: 'string', default: '127.0.0.1', group: G.Router, usage: 'Upstream: GoBGP admin API address. Here: accepted; inspection uses a local socket.', notImplemented: 'there is no GoBGP API; use kube-router bgp peers|routes' },
  { name: 'gobgp-admin-port', kind: 'uint', default: 50051, max: U16, group: G.Router, usage: 'Upstream: GoBGP admin API port (0 off). Here: accepted; inspection uses a local socket.', notImplemented: 'there is no GoBGP API; use kube-router bgp peers|routes' },
  { name: 'routes-sync-period', kind: 'duration', default: 5 * M, group: G.Router, usage: 'Full reconcile period of the router.' },
  { name: 'injected-routes-sync-period', kind: 'duration', default: 60 * S, group: G.Router, usage: 'How often learned routes are re-applied to the kernel.' },
  { name: 'enable-overlay', kind: 'bool', default: true, group: G.Router, usage: 'Tunnel pod traffic to nodes that are not on a shared subnet.' },
  { name: 'overlay-type', kind: 'string', default: 'subnet', group: G.Router, usage: 'subnet: tunnel only across subnets; full: tunnel to every node.' },
  { name: 'overlay-encap', kind: 'string', default: 'ipip', group: G.Router, usage: 'Tunnel encapsulation: ipip, fou, or vxlan (ours).' },
  { name: 'overlay-encap-port', kind: 'uint', default: 5555, max: U16, group: G.Router, usage: 'UDP port of fou/vxlan encapsulation (at least 1024).' },
  { name: 'enable-pod-egress', kind: 'bool', default: true, group: G.Router, usage: 'Masquerade pod traffic leaving the pod and node address space.' },
  { name: 'enable-cni', kind: 'bool', default: true, group: G.Router, usage: 'Maintain kube-bridge and the CNI config file.' },
  { name: 'auto-mtu', kind: 'bool', default: true, group: G.Router, usage: 'Derive the pod MTU from the node interface (overlay overhead counted once).' },
  { name: 'disable-source-dest-check', kind: 'bool', default: true, group: G.Router, usage: 'Upstream: turn off the AWS EC2 source/dest check. Accepted; no cloud API is called.', notImplemented: 'no cloud API is called' },

  // Service proxy
  { name: 'ipvs-sync-period', kind: 'duration', default: 5 * M, group: G.Proxy, usage: 'Full reconcile period of the service proxy.' },
  { name: 'masquerade-all', kind: 'bool', default: false, group: G.Proxy, usage: 'SNAT all proxied traffic to the node IP.' },
  { name: 'hairpin-mode', kind: 'bool', default: false, group: G.Proxy, usage: 'Hairpin every service (otherwise per service by annotation).' },
  { name: 'nodeport-bindon-all-ip', kind: 'bool', default: false, group: G.Proxy, usage: 'Serve NodePorts on every local address, not just the node IP.' },
  { name: 'ipvs-permit-all', kind: 'bool', default: true, group: G.Proxy, usage: 'Only service ports answer on service IPs; other traffic to them is rejected.' },
  { name: 'ipvs-graceful-termination', kind: 'bool', default: false, group: G.Proxy, usage: 'Let connections to terminating endpoints drain for their grace period.' },
  { name: 'ipvs-graceful-period', kind: 'duration', default: 30 * S, group: G.Proxy, usage: "Grace period when the pod's terminationGracePeriodSeconds is unknown." },
  { name: 'excluded-cidrs', kind: 'stringSlice', default: [], group: G.Proxy, usage: 'IPVS services in these ranges are never removed as stale.' },
  { name: 'service-tcp-timeout', kind: 'duration', default: 0, group: G.Proxy, usage: 'IPVS TCP session timeout (0: kernel default).' },
  { name: 'service-tcpfin-timeout', kind: 'duration', default: 0, group: G.Proxy, usage: 'IPVS TCP FIN timeout (0: kernel default).' },
  { name: 'service-udp-timeout', kind: 'duration', default: 0, group: G.Proxy, usage: 'IPVS UDP timeout (0: kernel default).' },
  { name: 'service-node-port-range', kind: 'string', default: '30000-32767', group: G.Proxy, usage: 'NodePort range, "a-b" or "a:b".' },

  // Firewall
  { name: 'iptables-sync-period', kind: 'duration', default: 5 * M, group: G.Firewall, usage: 'Full reconcile period of the firewall.' },
  { name: 'netpol-default-deny', kind: 'bool', default: false, group: G.Firewall, usage: 'A new local pod gets no traffic until its policies are programmed.' },
  { name: 'use-nftables-for-netpol', kind: 'bool', default: false, group: G.Firewall, usage: 'Policies in one nftables table per family instead of iptables + ipset (without the flag: iptables, or nftables where iptables or ipset is not installed).' },

  // LoadBalancer allocator
  { name: 'loadbalancer-default-class', kind: 'bool', default: true, group: G.LoadBalancer, usage: 'Also allocate for services with no loadBalancerClass.' },
  { name: 'loadbalancer-sync-period', kind: 'duration', default: 1 * M, group: G.LoadBalancer, usage: 'Period of the allocator re-walk.' },
];

/** Flags of ours and flags upstream removed but old manifests still pass. */
export const EXTRA_FLAGS: readonly FlagSpec[] = [
  { name: 'service-traffic-counters', kind: 'bool', default: true, group: G.Ours, usage: "nftables datapath: count each Service's packets and connections for the kube_router_service_* metrics (served with --metrics-port). Their cost: a few percent of the new-connection rate at 30,000 Services; false turns them off." },
  { name: 'cleanup-kube-proxy', kind: 'bool', default: false, group: G.Ours, usage: "At start, remove kube-proxy's rules, sets and interface from this node (otherwise one warning names them)." },
  { name: 'service-proxy-backend', kind: 'string', default: 'auto', group: G.Ours, usage: 'auto (IPVS when the kernel has it, else nftables), ipvs or nftables.' },
  { name: 'bgp-max-prefixes', kind: 'uint', default: 100_000, max: 0xffffffff, group: G.Ours, usage: 'Most prefixes accepted from one BGP peer; a peer that sends more loses its session and its routes (RFC 4486). 0: no limit. The kube-router.io/peers annotation can set maxprefixes per peer.' },
  { name: 'iface', kind: 'string', default: '', group: G.Ours, usage: 'Interface whose address is this node\'s BGP next hop and tunnel endpoint (default: the one holding the Node\'s InternalIP).' },
  { name: 'iface-regex', kind: 'string', default: '', group: G.Ours, usage: 'Like --iface: the first interface (by index) whose name matches this regular expression.' },
  { name: 'config-sync-period', kind: 'duration', default: 1 * M, group: G.Deprecated, usage: 'Removed upstream in 2018; ignored. Each controller has its own sync period.', deprecated: 'use --ipvs-sync-period, --iptables-sync-period and --routes-sync-period' },
  { name: 'cluster-cidr', kind: 'string', default: '', group: G.Deprecated, usage: 'Pod network range, used where nodes carry no pod CIDR.' },
];

export const ALL_FLAGS: readonly FlagSpec[] = [...UPSTREAM_FLAGS, ...EXTRA_FLAGS];
