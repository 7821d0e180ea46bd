import type { Counter, Gauge, Histogram } from 'prom-client';
import type { DaemonMetrics } from '../runtime/metrics.js';

/** Upstream's NetworkPolicy metric names where we measure the same thing, plus ours. */
export interface FirewallMetrics {
  readonly syncTime: Histogram;
  readonly saveTime: Readonly<Record<4 | 6, Histogram>>;
  readonly restoreTime: Readonly<Record<4 | 6, Histogram>>;
  readonly ipsetRestoreTime: Readonly<Record<4 | 6, Histogram>>;
  readonly nftReadTime: Readonly<Record<4 | 6, Histogram>>;
  readonly nftTransactionTime: Readonly<Record<4 | 6, Histogram>>;
  readonly chainsSyncTime: Histogram;
  readonly chains: Gauge;
  readonly ipsets: Gauge;
  readonly syncDuration: Histogram<'mode'>;
  readonly kernelWrites: Counter<'mode'>;
  readonly policies: Gauge;
  readonly clusterPolicies: Gauge;
}

export function firewallMetrics(m: DaemonMetrics): FirewallMetrics {
  return {
    syncTime: m.histogram('kube_router_controller_iptables_sync_time', 'Time of a NetworkPolicy sync, seconds'),
    saveTime: {
      4: m.histogram('kube_router_controller_iptables_v4_save_time', 'iptables-save of the filter table (full syncs only), seconds'),
      6: m.histogram('kube_router_controller_iptables_v6_save_time', 'ip6tables-save of the filter table (full syncs only), seconds'),
    },
    restoreTime: {
      4: m.histogram('kube_router_controller_iptables_v4_restore_time', 'iptables-restore --noflush of our changed chains, seconds'),
      6: m.histogram('kube_router_controller_iptables_v6_restore_time', 'ip6tables-restore --noflush of our changed chains, seconds'),
    },
    ipsetRestoreTime: {
      4: m.histogram('kube_router_controller_policy_ipset_v4_restore_time', 'ipset restore of IPv4 policy sets, seconds'),
      6: m.histogram('kube_router_controller_policy_ipset_v6_restore_time', 'ipset restore of IPv6 policy sets, seconds'),
    },
    nftReadTime: {
      4: m.histogram('kube_router_netpol_nft_v4_read_time', 'nftables backend: reading our IPv4 table back (full syncs only), seconds'),
      6: m.histogram('kube_router_netpol_nft_v6_read_time', 'nftables backend: reading our IPv6 table back (full syncs only), seconds'),
    },
    nftTransactionTime: {
      4: m.histogram('kube_router_netpol_nft_v4_transaction_time', 'nftables backend: one transaction on our IPv4 table, seconds'),
      6: m.histogram('kube_router_netpol_nft_v6_transaction_time', 'nftables backend: one transaction on our IPv6 table, seconds'),
    },
    chainsSyncTime: m.histogram('kube_router_controller_policy_chains_sync_time', 'Time to render the policy chains, seconds'),
    chains: m.gauge('kube_router_controller_policy_chains', 'chains of the firewall (all families, either backend)'),
    ipsets: m.gauge('kube_router_controller_policy_ipsets', 'sets of the firewall (ipsets, or nft sets of the netpol tables; all families)'),
    syncDuration: m.histogram('kube_router_netpol_sync_duration_seconds', 'NetworkPolicy sync time by mode (full, partial, no-op)', ['mode']),
    kernelWrites: m.counter('kube_router_netpol_kernel_writes_total', 'Lines written to iptables-restore and ipset restore', ['mode']),
    policies: m.gauge('kube_router_netpol_policies', 'NetworkPolicies in force'),
    clusterPolicies: m.gauge('kube_router_netpol_cluster_policies', 'ClusterNetworkPolicies (policy.networking.k8s.io/v1alpha2) in force'),
  };
}
