/**
 * Monitoring manifests for the Prometheus Operator: a PodMonitor on the DaemonSets' metrics port, and
 * for those who scrape through Services a headless Service plus a ServiceMonitor. Both label every
 * series with the node it came from.
 */

/** The metrics port every DaemonSet variant opens (`--metrics-port`), named `metrics`. */
export const METRICS_PORT = 20245;
export const HEALTH_PORT = 20244;

const SELECTOR = { 'k8s-app': 'kube-router' };
const NODE_LABEL = [
  { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' },
  { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'instance', action: 'replace' },
];

export function podMonitor(): object[] {
  return [
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { name: 'kube-router', namespace: 'kube-system', labels: SELECTOR },
      spec: {
        selector: { matchLabels: SELECTOR },
        namespaceSelector: { matchNames: ['kube-system'] },
        podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: '30s', relabelings: NODE_LABEL }],
      },
    },
  ];
}

export function serviceMonitor(): object[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-router-metrics', namespace: 'kube-system', labels: SELECTOR },
      spec: { clusterIP: 'None', selector: SELECTOR, ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' }] },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'kube-router', namespace: 'kube-system', labels: SELECTOR },
      spec: {
        selector: { matchLabels: SELECTOR },
        namespaceSelector: { matchNames: ['kube-system'] },
        endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s', relabelings: NODE_LABEL }],
      },
    },
  ];
}
