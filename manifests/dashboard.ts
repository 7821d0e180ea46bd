/**
 * The Grafana dashboard (manifests/dashboard/kube-router.json), importable as is: a Prometheus
 * data-source input, a node (instance) variable, and one row per controller. Upstream's panels that
 * still apply (service traffic, IPVS/proxy sync time, iptables sync time, policy chains and sets, BGP
 * peers and advertisements, host routes) plus ours (sync duration by mode, kernel writes, network
 * programming latency, rejected input, watch restarts, last successful sync, process).
 */

export interface PanelSpec {
  readonly title: string;
  readonly unit: string;
  /** PromQL; `$instance` and `$__rate_interval` are Grafana's. */
  readonly exprs: readonly { readonly expr: string; readonly legend: string }[];
  readonly description: string;
}

export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

const sel = 'instance=~"$instance"';
const rate = (m: string, by: string): string => `sum by (${by}) (rate(${m}{${sel}}[$__rate_interval]))`;
const p99 = (m: string, by: string): string => `histogram_quantile(0.99, sum by (le, ${by}) (rate(${m}_bucket{${sel}}[$__rate_interval])))`;

export const DASHBOARD_ROWS: readonly RowSpec[] = [
  {
    title: 'Overview',
    panels: [
      { title: 'Seconds since the last successful sync', unit: 's', exprs: [{ expr: `time() - kube_router_controller_sync_last_success_timestamp_seconds{${sel}}`, legend: '{{instance}} {{controller}}' }], description: 'Health turns 500 when this passes the sync period plus the first-sync time.' },
      { title: 'Failed syncs', unit: 'ops', exprs: [{ expr: rate('kube_router_controller_sync_failures_total', 'instance, controller'), legend: '{{instance}} {{controller}}' }], description: 'Failed syncs are retried with backoff.' },
      { title: 'Rejected input', unit: 'ops', exprs: [{ expr: rate('kube_router_input_rejected_total', 'controller, kind, reason'), legend: '{{controller}} {{kind}} {{reason}}' }], description: 'Objects, annotations or BGP input refused (malformed, over budget, out of range); each also gets a Warning Event.' },
      { title: 'List/watch restarts', unit: 'ops', exprs: [{ expr: rate('kube_router_watch_restarts_total', 'resource, reason'), legend: '{{resource}} {{reason}}' }], description: 'Watches re-opened (closed, expired with 410 Gone, error).' },
      { title: 'Resident memory', unit: 'bytes', exprs: [{ expr: `process_resident_memory_bytes{${sel}}`, legend: '{{instance}}' }], description: '' },
      { title: 'CPU', unit: 'percentunit', exprs: [{ expr: `rate(process_cpu_seconds_total{${sel}}[$__rate_interval])`, legend: '{{instance}}' }], description: '' },
    ],
  },
  {
    title: 'Service proxy',
    panels: [
      { title: 'Datapath in use', unit: 'none', exprs: [{ expr: `kube_router_proxy_backend_info{${sel}}`, legend: '{{instance}} {{backend}}' }], description: 'nftables or IPVS (auto picks IPVS where the kernel has it).' },
      { title: 'Service frontends', unit: 'none', exprs: [{ expr: `kube_router_controller_ipvs_services{${sel}}`, legend: '{{instance}}' }], description: 'Address:port:protocol frontends programmed.' },
      { title: 'Sync duration p99 by mode', unit: 's', exprs: [{ expr: p99('kube_router_proxy_sync_duration_seconds', 'mode'), legend: '{{mode}}' }], description: 'full rebuild, partial (only what changed) or no-op.' },
      { title: 'Sync time p99 (upstream)', unit: 's', exprs: [{ expr: p99('kube_router_controller_ipvs_services_sync_time', 'instance'), legend: '{{instance}}' }], description: '' },
      { title: 'Network programming latency p99', unit: 's', exprs: [{ expr: p99('kube_router_proxy_network_programming_duration_seconds', 'instance'), legend: '{{instance}}' }], description: 'From an EndpointSlice change to the kernel committed.' },
      { title: 'Kernel writes', unit: 'ops', exprs: [{ expr: rate('kube_router_proxy_kernel_writes_total', 'instance, mode'), legend: '{{instance}} {{mode}}' }], description: 'Elements or lines sent to the kernel; 0 while nothing changes.' },
      {
        title: 'Service traffic',
        unit: 'Bps',
        exprs: [
          { expr: `sum by (svc_namespace, service_name) (rate(kube_router_service_bytes_in{${sel}}[$__rate_interval]))`, legend: 'in {{svc_namespace}}/{{service_name}}' },
          { expr: `sum by (svc_namespace, service_name) (rate(kube_router_service_bytes_out{${sel}}[$__rate_interval]))`, legend: 'out {{svc_namespace}}/{{service_name}}' },
        ],
        description: 'Per service, both datapaths.',
      },
      { title: 'Service connections', unit: 'cps', exprs: [{ expr: `sum by (svc_namespace, service_name) (rate(kube_router_service_total_connections{${sel}}[$__rate_interval]))`, legend: '{{svc_namespace}}/{{service_name}}' }], description: '' },
    ],
  },
  {
    title: 'Firewall',
    panels: [
      { title: 'NetworkPolicies in force', unit: 'none', exprs: [{ expr: `kube_router_netpol_policies{${sel}}`, legend: '{{instance}}' }], description: '' },
      {
        title: 'Chains and sets',
        unit: 'none',
        exprs: [
          { expr: `kube_router_controller_policy_chains{${sel}}`, legend: 'chains {{instance}}' },
          { expr: `kube_router_controller_policy_ipsets{${sel}}`, legend: 'sets {{instance}}' },
        ],
        description: '',
      },
      { title: 'Sync duration p99 by mode', unit: 's', exprs: [{ expr: p99('kube_router_netpol_sync_duration_seconds', 'mode'), legend: '{{mode}}' }], description: '' },
      { title: 'iptables sync time p99 (upstream)', unit: 's', exprs: [{ expr: p99('kube_router_controller_iptables_sync_time', 'instance'), legend: '{{instance}}' }], description: '' },
      { title: 'Policy chains sync time p99 (upstream)', unit: 's', exprs: [{ expr: p99('kube_router_controller_policy_chains_sync_time', 'instance'), legend: '{{instance}}' }], description: '' },
      { title: 'Kernel writes', unit: 'ops', exprs: [{ expr: rate('kube_router_netpol_kernel_writes_total', 'instance, mode'), legend: '{{instance}} {{mode}}' }], description: '' },
    ],
  },
  {
    title: 'Router and BGP',
    panels: [
      { title: 'BGP prefixes per peer', unit: 'none', exprs: [{ expr: `sum by (instance, address, direction) (kube_router_bgp_peer_prefixes{${sel}})`, legend: '{{instance}} {{address}} {{direction}}' }], description: 'Received, accepted by the import policy, and advertised.' },
      { title: 'BGP peers by state', unit: 'none', exprs: [{ expr: `count by (instance, state) (kube_router_bgp_peer_info{${sel}})`, legend: '{{instance}} {{state}}' }], description: '' },
      {
        title: 'BGP advertisements',
        unit: 'ops',
        exprs: [
          { expr: rate('kube_router_controller_bgp_advertisements_received', 'instance'), legend: 'received {{instance}}' },
          { expr: rate('kube_router_controller_bgp_advertisements_sent', 'instance, type'), legend: 'sent {{instance}} {{type}}' },
        ],
        description: '',
      },
      { title: 'Routes we keep in the kernel', unit: 'none', exprs: [{ expr: `kube_router_host_routes_synced{${sel}}`, legend: '{{instance}}' }], description: '' },
      {
        title: 'Routes added and removed',
        unit: 'ops',
        exprs: [
          { expr: rate('kube_router_host_routes_added', 'instance'), legend: 'added {{instance}}' },
          { expr: rate('kube_router_host_routes_removed', 'instance'), legend: 'removed {{instance}}' },
        ],
        description: '',
      },
      { title: 'Routing sync time p99 (upstream)', unit: 's', exprs: [{ expr: p99('kube_router_controller_routes_sync_time', 'instance'), legend: '{{instance}}' }], description: '' },
      { title: 'BGP peers sync time p99 (upstream)', unit: 's', exprs: [{ expr: p99('kube_router_controller_bgp_internal_peers_sync_time', 'instance'), legend: '{{instance}}' }], description: '' },
      { title: 'Host routes sync time p99 (upstream)', unit: 's', exprs: [{ expr: p99('kube_router_host_routes_sync_time', 'instance'), legend: '{{instance}}' }], description: '' },
    ],
  },
];

/** Every PromQL expression of the dashboard, for tests. */
export function dashboardExprs(): string[] {
  return DASHBOARD_ROWS.flatMap((r) => r.panels.flatMap((p) => p.exprs.map((e) => e.expr)));
}

export function dashboard(): object {
  const panels: object[] = [];
  let id = 1;
  let y = 0;
  for (const row of DASHBOARD_ROWS) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    row.panels.forEach((p, i) => {
      panels.push({
        id: id++,
        type: 'timeseries',
        title: p.title,
        description: p.description,
        datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' },
        gridPos: { h: 8, w: 8, x: (i % 3) * 8, y: y + Math.floor(i / 3) * 8 },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
        targets: p.exprs.map((e, k) => ({ refId: String.fromCharCode(65 + k), datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' }, expr: e.expr, legendFormat: e.legend })),
      });
    });
    y += Math.ceil(row.panels.length / 3) * 8;
  }
  return {
    __inputs: [{ name: 'DS_PROMETHEUS', label: 'Prometheus', description: '', type: 'datasource', pluginId: 'prometheus', pluginName: 'Prometheus' }],
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
      { type: 'panel', id: 'timeseries', name: 'Time series', version: '' },
    ],
    title: 'kube-router',
    uid: 'kube-router-ts',
    description: 'kube-router (TypeScript): service proxy, firewall, router and BGP',
    tags: ['kube-router', 'networking'],
    timezone: 'browser',
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    templating: {
      list: [
        { name: 'DS_PROMETHEUS', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        {
          name: 'instance',
          label: 'Node',
          type: 'query',
          datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' },
          query: { query: 'label_values(kube_router_build_info, instance)', refId: 'instance' },
          definition: 'label_values(kube_router_build_info, instance)',
          includeAll: true,
          multi: true,
          allValue: '.*',
          current: { selected: true, text: ['All'], value: ['$__all'] },
          refresh: 2,
          sort: 1,
          hide: 0,
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}
