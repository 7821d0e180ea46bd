import { familyOf, tryParseCIDR, tryParseIP, type CIDR, type IP } from '../util/ip.js';
import type { ExternalPeerConfig, KubeRouterConfig, OverlayEncap, ProxyBackendChoice, RouterIdChoice } from './config.js';
import { BFD_MAX_INTERVAL_MS, BFD_MIN_INTERVAL_MS } from '../bfd/fsm.js';
import { formatGoDuration } from './duration.js';
import type { FlagSpec, FlagValue } from './flag-spec.js';
import { ALL_FLAGS } from './flags.js';
import { parseArgs, type UsageIssue } from './parse-args.js';

export interface LoadDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly hostname: () => string;
  /** Reads a small text file; throws when it cannot. */
  readonly readFile: (path: string) => string;
}

export type LoadResult =
  | { readonly kind: 'run'; readonly config: KubeRouterConfig; readonly warnings: readonly string[] }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'usage-error'; readonly issues: readonly UsageIssue[] };

const MIN_HOLD_MS = 3_000;
const MAX_HOLD_MS = (18 * 3600 + 12 * 60 + 16) * 1000; // 65535 s, the 16-bit hold time field
const MAX_GR_TIME_MS = 4095_000; // 12-bit restart time field (RFC 4724 section 3)
const MAX_DEFERRAL_MS = 18 * 3600_000;

/** Typed access to given-or-default flag values. */
class Values {
  constructor(
    private readonly given: ReadonlyMap<string, FlagValue>,
    private readonly specs: ReadonlyMap<string, FlagSpec>,
  ) {}
  private get(name: string): FlagValue {
    const v = this.given.get(name);
    if (v) return v;
    const s = this.specs.get(name);
    if (!s) throw new Error(`no such flag ${name}`);
    return { kind: s.kind, value: s.default } as FlagValue;
  }
  bool(n: string): boolean {
    const v = this.get(n);
    if (v.kind !== 'bool') throw new Error(`${n} is not bool`);
    return v.value;
  }
  str(n: string): string {
    const v = this.get(n);
    if (v.kind !== 'string') throw new Error(`${n} is not string`);
    return v.value;
  }
  uint(n: string): number {
    const v = this.get(n);
    if (v.kind !== 'uint') throw new Error(`${n} is not uint`);
    return v.value;
  }
  dur(n: string): number {
    const v = this.get(n);
    if (v.kind !== 'duration') throw new Error(`${n} is not duration`);
    return v.value;
  }
  strs(n: string): readonly string[] {
    const v = this.get(n);
    if (v.kind !== 'stringSlice') throw new Error(`${n} is not a string slice`);
    return v.value;
  }
  uints(n: string): readonly number[] {
    const v = this.get(n);
    if (v.kind !== 'uintSlice') throw new Error(`${n} is not a uint slice`);
    return v.value;
  }
}

export function isPrivateAsn(asn: number): boolean {
  return (asn >= 64512 && asn <= 65535) || (asn >= 4200000000 && asn <= 4294967294);
}

function decodeBase64(text: string): string | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, 'base64').toString('utf8');
}

/**
 * Parses and validates the whole command line before anything touches the kernel. Every problem is
 * collected, so one run of the daemon reports them all.
 */
export function loadConfig(argv: readonly string[], deps: LoadDeps): LoadResult {
  const parsed = parseArgs(argv, ALL_FLAGS);
  const issues: UsageIssue[] = [...parsed.issues];
  const warnings: string[] = [];
  if (parsed.positional.length > 0) issues.push({ message: `unexpected argument(s): ${parsed.positional.join(' ')} (kube-router takes only flags)` });
  const specs = new Map(ALL_FLAGS.map((s) => [s.name, s]));
  const v = new Values(parsed.values, specs);
  if (parsed.given.has('help') && v.bool('help')) return { kind: 'help' };
  if (parsed.given.has('version') && v.bool('version')) return { kind: 'version' };

  for (const name of parsed.given) {
    const d = specs.get(name)?.deprecated;
    if (d) warnings.push(`flag --${name} was removed upstream and is ignored: ${d}`);
    const ni = specs.get(name)?.notImplemented;
    if (ni) warnings.push(`flag --${name} is accepted but not implemented: ${ni}`);
  }
  const bad = (flag: string, message: string): void => {
    issues.push({ flag, message: `--${flag}: ${message}` });
  };

  const cidrList = (flag: string, max?: number): CIDR[] => {
    const out: CIDR[] = [];
    for (const text of v.strs(flag)) {
      const c = tryParseCIDR(text);
      if (c === undefined) bad(flag, `${JSON.stringify(text)} is not a CIDR (expected e.g. 198.18.0.0/15 or 2001:db8::/32)`);
      else out.push(c);
    }
    if (max !== undefined && v.strs(flag).length > max) bad(flag, `at most ${max} ranges are allowed, got ${v.strs(flag).length}`);
    return out;
  };
  const positive = (flag: string): number => {
    const ms = v.dur(flag);
    if (ms <= 0) bad(flag, `must be greater than 0, got ${formatGoDuration(ms)}`);
    return ms;
  };
  const nonNegative = (flag: string): number => {
    const ms = v.dur(flag);
    if (ms < 0) bad(flag, `must not be negative, got ${formatGoDuration(ms)}`);
    return ms;
  };
  const port = (flag: string, min = 1): number => {
    const p = v.uint(flag);
    if (p < min || p > 65535) bad(flag, `must be a port from ${min} to 65535, got ${p}`);
    return p;
  };

  // Verbosity: klog's level is a number.
  const vText = v.str('v');
  const verbosity = /^\d+$/.test(vText) ? Number(vText) : NaN;
  if (Number.isNaN(verbosity)) bad('v', `expected a whole number, got ${JSON.stringify(vText)}`);

  const enableIPv4 = v.bool('enable-ipv4');
  const enableIPv6 = v.bool('enable-ipv6');
  if (!enableIPv4 && !enableIPv6) issues.push({ flag: 'enable-ipv4', message: '--enable-ipv4 and --enable-ipv6 are both false: at least one family must be on' });

  const clusterRanges = cidrList('service-cluster-ip-range', 2);
  if (clusterRanges.length === 2 && familyOf(clusterRanges[0] as CIDR) === familyOf(clusterRanges[1] as CIDR)) bad('service-cluster-ip-range', 'two ranges must be of different families (one IPv4, one IPv6)');

  // Node port range: "a-b" or "a:b".
  const nprText = v.str('service-node-port-range');
  const npr = /^(\d+)\s*[-:]\s*(\d+)$/.exec(nprText);
  let nodePortRange = { min: 30000, max: 32767 };
  if (!npr) bad('service-node-port-range', `expected "a-b" or "a:b", got ${JSON.stringify(nprText)}`);
  else {
    const min = Number(npr[1]);
    const max = Number(npr[2]);
    if (min < 1 || max > 65535 || min > max) bad('service-node-port-range', `expected ports 1-65535 with a <= b, got ${JSON.stringify(nprText)}`);
    nodePortRange = { min, max };
  }

  // BGP
  let clusterAsn = v.uint('cluster-asn');
  if (clusterAsn === 0) clusterAsn = 64512;
  else if (!isPrivateAsn(clusterAsn)) bad('cluster-asn', `must be a private ASN (64512-65535 or 4200000000-4294967294), got ${clusterAsn}`);

  const peerIPsText = v.strs('peer-router-ips');
  const peerIPs: IP[] = [];
  for (const t of peerIPsText) {
    const ip = tryParseIP(t);
    if (ip === undefined) bad('peer-router-ips', `${JSON.stringify(t)} is not an IP address`);
    else peerIPs.push(ip);
  }
  const asns = v.uints('peer-router-asns');
  for (const a of asns) if (a < 1) bad('peer-router-asns', `ASN must be from 1 to 4294967295, got ${a}`);
  if (asns.length !== peerIPsText.length) bad('peer-router-asns', `has ${asns.length} entries but --peer-router-ips has ${peerIPsText.length}; they are positional and must line up`);

  let passwordsText = v.strs('peer-router-passwords');
  const pwFile = v.str('peer-router-passwords-file');
  if (!parsed.given.has('peer-router-passwords') && pwFile !== '') {
    try {
      const line = deps.readFile(pwFile).split('\n')[0]?.trim() ?? '';
      passwordsText = line === '' ? [] : line.split(',').map((s) => s.trim());
    } catch (e) {
      bad('peer-router-passwords-file', `cannot read ${pwFile}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const passwords: (string | undefined)[] = passwordsText.map((p) => {
    if (p === '') return undefined;
    const d = decodeBase64(p);
    if (d === undefined) bad('peer-router-passwords', `${JSON.stringify(p)} is not base64`);
    return d;
  });
  if (passwords.length > 0 && passwords.length !== peerIPsText.length) bad('peer-router-passwords', `has ${passwords.length} entries but --peer-router-ips has ${peerIPsText.length}`);
  const ports = v.uints('peer-router-ports');
  for (const p of ports) if (p < 1 || p > 65535) bad('peer-router-ports', `must be ports from 1 to 65535, got ${p}`);
  if (ports.length > 0 && ports.length !== peerIPsText.length) bad('peer-router-ports', `has ${ports.length} entries but --peer-router-ips has ${peerIPsText.length}`);
  const peers: ExternalPeerConfig[] = peerIPs.map((ip, i) => {
    const pw = passwords[i];
    return { ip, asn: asns[i] ?? 0, port: ports[i] ?? 179, ...(pw !== undefined ? { password: pw } : {}) };
  });

  const holdTimeMs = v.dur('bgp-holdtime');
  if (holdTimeMs < MIN_HOLD_MS || holdTimeMs > MAX_HOLD_MS) bad('bgp-holdtime', `must be from 3s to 18h12m16s, got ${formatGoDuration(holdTimeMs)}`);
  const grTime = v.dur('bgp-graceful-restart-time');
  if (grTime <= 0 || grTime > MAX_GR_TIME_MS) bad('bgp-graceful-restart-time', `must be greater than 0 and at most 4095s, got ${formatGoDuration(grTime)}`);
  const grDeferral = v.dur('bgp-graceful-restart-deferral-time');
  if (grDeferral <= 0 || grDeferral > MAX_DEFERRAL_MS) bad('bgp-graceful-restart-deferral-time', `must be greater than 0 and at most 18h, got ${formatGoDuration(grDeferral)}`);

  const ridText = v.str('router-id');
  let routerId: RouterIdChoice = { kind: 'node-ip' };
  if (ridText === 'generate') routerId = { kind: 'generate' };
  else if (ridText !== '') {
    const ip = tryParseIP(ridText);
    if (ip === undefined || familyOf(ip) !== 4) bad('router-id', `expected an IPv4 address or "generate", got ${JSON.stringify(ridText)}`);
    else routerId = { kind: 'fixed', id: ip };
  }

  const overlayType = v.str('overlay-type');
  if (overlayType !== 'subnet' && overlayType !== 'full') bad('overlay-type', `expected subnet or full, got ${JSON.stringify(overlayType)}`);
  const encap = v.str('overlay-encap');
  if (encap !== 'ipip' && encap !== 'fou' && encap !== 'vxlan') bad('overlay-encap', `expected ipip, fou or vxlan, got ${JSON.stringify(encap)}`);
  const encapPort = port('overlay-encap-port', 1024);

  const ifaceName = v.str('iface');
  const ifaceRegex = v.str('iface-regex');
  if (ifaceName !== '' && ifaceRegex !== '') bad('iface-regex', 'give --iface or --iface-regex, not both');
  if (ifaceRegex !== '') {
    try {
      new RegExp(ifaceRegex);
    } catch (e) {
      bad('iface-regex', `not a regular expression: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const backend = v.str('service-proxy-backend');
  if (backend !== 'auto' && backend !== 'ipvs' && backend !== 'nftables') bad('service-proxy-backend', `expected auto, ipvs or nftables, got ${JSON.stringify(backend)}`);

  const metricsPath = v.str('metrics-path');
  if (!metricsPath.startsWith('/')) bad('metrics-path', `must start with "/", got ${JSON.stringify(metricsPath)}`);

  let clusterCidr: CIDR | undefined;
  const cc = v.str('cluster-cidr');
  if (cc !== '') {
    clusterCidr = tryParseCIDR(cc);
    if (clusterCidr === undefined) bad('cluster-cidr', `${JSON.stringify(cc)} is not a CIDR`);
  }

  const nodeName = v.str('hostname-override') || deps.env['NODE_NAME'] || deps.hostname();

  const config: KubeRouterConfig = {
    runRouter: v.bool('run-router'),
    runServiceProxy: v.bool('run-service-proxy'),
    runFirewall: v.bool('run-firewall'),
    runLoadBalancer: v.bool('run-loadbalancer'),
    kubeconfig: v.str('kubeconfig'),
    master: v.str('master'),
    nodeName,
    cleanupConfig: v.bool('cleanup-config'),
    cacheSyncTimeoutMs: positive('cache-sync-timeout'),
    enableIPv4,
    enableIPv6,
    serviceClusterIPRanges: clusterRanges,
    serviceExternalIPRanges: cidrList('service-external-ip-range'),
    loadBalancerIPRanges: cidrList('loadbalancer-ip-range'),
    strictExternalIPValidation: v.bool('strict-external-ip-validation'),
    health: { addr: v.str('health-addr'), port: port('health-port', 0) },
    metrics: { addr: v.str('metrics-addr'), port: port('metrics-port', 0), path: metricsPath },
    verbosity: Number.isNaN(verbosity) ? 0 : verbosity,
    runtimeEndpoint: v.str('runtime-endpoint'),
    inspectSocket: inspectSocketOf(deps.env),
    router: {
      clusterAsn,
      nodesFullMesh: v.bool('nodes-full-mesh'),
      enableIbgp: v.bool('enable-ibgp'),
      peers,
      multihopTtl: v.uint('peer-router-multihop-ttl'),
      advertiseClusterIP: v.bool('advertise-cluster-ip'),
      advertiseExternalIP: v.bool('advertise-external-ip'),
      advertiseLoadBalancerIP: v.bool('advertise-loadbalancer-ip'),
      advertisePodCidr: v.bool('advertise-pod-cidr'),
      overrideNextHop: v.bool('override-nexthop'),
      routerId,
      bgpPort: port('bgp-port'),
      holdTimeMs,
      maxPrefixes: v.uint('bgp-max-prefixes'),
      gracefulRestart: { enabled: v.bool('bgp-graceful-restart'), timeMs: grTime, deferralMs: grDeferral },
      bfd: {
        enabled: v.bool('enable-bfd'),
        port: port('bfd-port'),
        multiplier: v.uint('bfd-detection-multiplier'),
        minTxMs: positive('bfd-desired-min-tx-interval'),
        minRxMs: positive('bfd-required-min-rx-interval'),
      },
      syncPeriodMs: positive('routes-sync-period'),
      injectedRoutesSyncPeriodMs: positive('injected-routes-sync-period'),
      overlay: { enabled: v.bool('enable-overlay'), type: overlayType === 'full' ? 'full' : 'subnet', encap: encap as OverlayEncap, port: encapPort },
      podEgress: v.bool('enable-pod-egress'),
      enableCni: v.bool('enable-cni'),
      autoMtu: v.bool('auto-mtu'),
      cniConfFile: deps.env['KUBE_ROUTER_CNI_CONF_FILE'] || '/etc/cni/net.d/10-kuberouter.conf',
      iface: ifaceName !== '' ? { kind: 'name', name: ifaceName } : ifaceRegex !== '' ? { kind: 'regex', pattern: ifaceRegex } : { kind: 'default' },
      ...(clusterCidr !== undefined ? { clusterCidr } : {}),
    },
    proxy: {
      backend: backend as ProxyBackendChoice,
      syncPeriodMs: positive('ipvs-sync-period'),
      masqueradeAll: v.bool('masquerade-all'),
      hairpinMode: v.bool('hairpin-mode'),
      nodePortBindOnAllIP: v.bool('nodeport-bindon-all-ip'),
      permitAll: v.bool('ipvs-permit-all'),
      gracefulTermination: v.bool('ipvs-graceful-termination'),
      gracefulPeriodMs: nonNegative('ipvs-graceful-period'),
      excludedCidrs: cidrList('excluded-cidrs'),
      tcpTimeoutMs: nonNegative('service-tcp-timeout'),
      tcpFinTimeoutMs: nonNegative('service-tcpfin-timeout'),
      udpTimeoutMs: nonNegative('service-udp-timeout'),
      nodePortRange,
      cleanupKubeProxy: v.bool('cleanup-kube-proxy'),
      serviceTrafficCounters: v.bool('service-traffic-counters'),
    },
    firewall: { syncPeriodMs: positive('iptables-sync-period'), defaultDeny: v.bool('netpol-default-deny'), backend: v.bool('use-nftables-for-netpol') ? 'nftables' : 'auto' },
    loadBalancer: { defaultClass: v.bool('loadbalancer-default-class'), syncPeriodMs: positive('loadbalancer-sync-period'), leaseIdentity: deps.env['POD_NAME'] || nodeName, leaseNamespace: deps.env['POD_NAMESPACE'] || podNamespace(deps) },
  };
  // Validated for its syntax only: the config-sync-period flag is ignored.
  nonNegative('config-sync-period');
  if (config.router.bfd.multiplier < 1) bad('bfd-detection-multiplier', 'must be at least 1');
  for (const [flag, ms] of [['bfd-desired-min-tx-interval', config.router.bfd.minTxMs], ['bfd-required-min-rx-interval', config.router.bfd.minRxMs]] as const) {
    if (ms < BFD_MIN_INTERVAL_MS || ms > BFD_MAX_INTERVAL_MS) bad(flag, `must be between ${BFD_MIN_INTERVAL_MS}ms and ${BFD_MAX_INTERVAL_MS}ms`);
  }
  if (issues.length > 0) return { kind: 'usage-error', issues };
  return { kind: 'run', config, warnings };
}

/** Where the daemon serves inspection: KUBE_ROUTER_SOCKET, else KUBE_ROUTER_BGP_SOCKET (its earlier name). */
export function inspectSocketOf(env: Readonly<Record<string, string | undefined>>): string {
  return env['KUBE_ROUTER_SOCKET'] || env['KUBE_ROUTER_BGP_SOCKET'] || DEFAULT_INSPECT_SOCKET;
}

export const DEFAULT_INSPECT_SOCKET = '/var/run/kube-router/kube-router.sock';

/** The pod's namespace from its ServiceAccount folder, as upstream falls back to; kube-system outside a pod. */
function podNamespace(deps: LoadDeps): string {
  try {
    return deps.readFile('/var/run/secrets/kubernetes.io/serviceaccount/namespace').trim() || 'kube-system';
  } catch {
    return 'kube-system';
  }
}
