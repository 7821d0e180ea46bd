import type { ProxyConfig } from '../options/config.js';
import type { Ipset } from '../linux/ipset/types.js';
import type { Iptables } from '../linux/iptables/types.js';
import type { Ipvs } from '../linux/ipvs/types.js';
import type { Netlink } from '../linux/netlink/types.js';
import type { Nftables } from '../linux/nftables/types.js';
import type { Sysctl } from '../linux/sysctl.js';
import type { DaemonMetrics } from '../runtime/metrics.js';
import type { Clock } from '../util/clock.js';
import { ErrorCode, errorMessage, KubeRouterError } from '../util/errors.js';
import type { Family } from '../util/ip.js';
import type { Logger } from '../util/logger.js';
import type { ProxyBackend } from './backend.js';
import { IpvsProxyBackend } from './ipvs/backend.js';
import { DUMMY_IF } from './ipvs/desired.js';
import type { DsrPods } from './ipvs/dsr-pods.js';
import { serviceTrafficMetrics } from './service-metrics.js';
import { NftTrafficReader } from './nft/traffic.js';
import { NftProxyBackend } from './nft/backend.js';

export interface BackendFactoryDeps {
  readonly nft: Nftables;
  readonly netlink: Netlink;
  readonly iptables: Readonly<Record<Family, Iptables>>;
  readonly ipset: Ipset;
  readonly sysctl: Sysctl;
  /** Opens the kernel's IPVS (generic netlink); undefined when the kernel has none. */
  readonly openIpvs: () => Promise<Ipvs | undefined>;
  readonly metrics: DaemonMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The pod side of DSR, when a container runtime is configured. */
  readonly dsrPods?: DsrPods;
}

/** The datapath chosen at start: one backend per family, and what the controller must know of it. */
export interface ProxyBackends {
  readonly kind: 'ipvs' | 'nftables';
  readonly backends: readonly ProxyBackend[];
  /** An interface that carries the backend's own service addresses, which are not node addresses. */
  readonly vipDevice?: string;
  close(): void;
}

/**
 * IPVS when asked for or (auto) when the kernel has it, as upstream; nftables otherwise, said once.
 * An explicit --service-proxy-backend=ipvs on a kernel without IPVS is an error, not a silent switch.
 * `frontendNames` maps `address|proto|port` to `namespace/name` for the IPVS service metrics.
 */
export async function createProxyBackends(cfg: ProxyConfig, families: readonly Family[], deps: BackendFactoryDeps, frontendNames: () => ReadonlyMap<string, string>): Promise<ProxyBackends> {
  const choice = cfg.backend;
  let ipvs: Ipvs | undefined;
  let why = 'this kernel has no IPVS';
  if (choice !== 'nftables') {
    try {
      ipvs = await deps.openIpvs();
    } catch (e) {
      why = `IPVS could not be opened: ${errorMessage(e)}`;
    }
    if (!ipvs && choice === 'ipvs') throw new KubeRouterError(ErrorCode.Unsupported, `--service-proxy-backend=ipvs: ${why}; use auto or nftables`);
  }
  if (!ipvs) {
    deps.logger.info(choice === 'auto' ? `service proxy backend: nftables (auto: ${why})` : 'service proxy backend: nftables (asked for)');
    const backends = families.map((f) => new NftProxyBackend(deps.nft, f, deps.logger));
    const reader = new NftTrafficReader(
      backends.map((b) => ({ counters: () => b.counters(), frontends: () => b.appliedFrontends() })),
      () => deps.clock.monotonicMs(),
    );
    serviceTrafficMetrics(deps.metrics, () => reader.read(), frontendNames);
    return { kind: 'nftables', backends, close: () => undefined };
  }
  const open = ipvs;
  // The VIPs go on kube-dummy-if over rtnetlink: its writer thread loads while the first sync reads and computes.
  deps.netlink.warm?.();
  const backends = families.map((f) => new IpvsProxyBackend(f, { ipvs: open, netlink: deps.netlink, iptables: deps.iptables[f], ipset: deps.ipset, sysctl: deps.sysctl, clock: deps.clock, logger: deps.logger, ...(deps.dsrPods ? { dsrPods: deps.dsrPods } : {}) }, { gracefulTermination: cfg.gracefulTermination, gracefulPeriodMs: cfg.gracefulPeriodMs, excludedCidrs: cfg.excludedCidrs }));
  const t = { tcp: Math.round(cfg.tcpTimeoutMs / 1000), tcpFin: Math.round(cfg.tcpFinTimeoutMs / 1000), udp: Math.round(cfg.udpTimeoutMs / 1000) };
  if (t.tcp + t.tcpFin + t.udp > 0) await open.setTimeouts(t).catch((e: unknown) => deps.logger.warn('IPVS timeouts not set', { error: errorMessage(e) }));
  serviceTrafficMetrics(deps.metrics, async () => (await open.services()).flatMap((s) => ('fwmark' in s.id ? [] : [{ address: s.id.address, protocol: s.id.protocol, port: s.id.port, stats: s.stats }])), frontendNames);
  deps.logger.info(`service proxy backend: ipvs (${choice === 'auto' ? 'auto: the kernel has IPVS' : 'asked for'})`);
  return { kind: 'ipvs', backends, vipDevice: DUMMY_IF, close: () => open.close() };
}
