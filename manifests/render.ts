#!/usr/bin/env node
/**
 * Renders manifests/*.yaml: our equivalents of upstream kube-router's shipped DaemonSet variants
 * (upstream's daemonset/ variants), same flags, annotations, ports and mounts, so they are drop-in replacements.
 *   node dist/manifests/render.js            write the files
 *   node dist/manifests/render.js --check    exit 1 if a committed file differs
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { dashboard } from './dashboard.js';
import { HEALTH_PORT, METRICS_PORT, podMonitor, serviceMonitor } from './monitoring.js';

const IMAGE = 'ghcr.io/kube-router-ts/kube-router:v0.1.0';

interface Variant {
  readonly file: string;
  readonly purpose: string;
  readonly args: readonly string[];
  /** kubeadm variants read the kube-proxy ConfigMap's kubeconfig; generic ones embed one. */
  readonly kubeconfig: 'kubeadm' | 'embedded' | 'host';
  readonly hostport?: boolean;
  /** DSR: the container runtime's socket (to find a backend pod's process), host PID and IPC namespaces. */
  readonly dsr?: boolean;
  readonly rbac: boolean;
}

/** containerd's CRI socket; CRI-O's is /var/run/crio/crio.sock (change the path and the argument together). */
const CRI_SOCKET_DIR = '/run/containerd';
const CRI_ENDPOINT = `unix://${CRI_SOCKET_DIR}/containerd.sock`;

const ALL = ['--run-router=true', '--run-firewall=true', '--run-service-proxy=true', '--bgp-graceful-restart=true'];
const NO_PROXY = ['--run-router=true', '--run-firewall=true', '--run-service-proxy=false', '--bgp-graceful-restart=true'];
/** Upstream's sample external peer. */
const PEER = ['--peer-router-ips=192.168.1.99', '--peer-router-asns=64513', '--cluster-asn=64512', '--advertise-cluster-ip=true'];

export const VARIANTS: readonly Variant[] = [
  { file: 'kubeadm-kuberouter.yaml', purpose: 'kubeadm: router and firewall beside kube-proxy', args: NO_PROXY, kubeconfig: 'kubeadm', rbac: true },
  { file: 'kubeadm-kuberouter-all-features.yaml', purpose: 'kubeadm: router, firewall and service proxy (replaces kube-proxy)', args: ALL, kubeconfig: 'kubeadm', rbac: true },
  { file: 'kubeadm-kuberouter-all-features-hostport.yaml', purpose: 'kubeadm: all features, with a conflist carrying the portmap plugin for hostPort', args: ALL, kubeconfig: 'kubeadm', hostport: true, rbac: true },
  { file: 'generic-kuberouter.yaml', purpose: 'any cluster: router and firewall, no proxy', args: NO_PROXY, kubeconfig: 'embedded', rbac: true },
  { file: 'generic-kuberouter-all-features.yaml', purpose: 'any cluster: all three controllers', args: ALL, kubeconfig: 'embedded', rbac: true },
  {
    file: 'generic-kuberouter-all-features-dsr.yaml',
    purpose: 'any cluster: all three controllers, with DSR (kube-router.io/service.dsr: tunnel) on the IPVS datapath',
    args: [...ALL, '--service-proxy-backend=ipvs', `--runtime-endpoint=${CRI_ENDPOINT}`],
    kubeconfig: 'embedded',
    dsr: true,
    rbac: true,
  },
  {
    file: 'generic-kuberouter-all-features-advertise-routes.yaml',
    purpose: 'any cluster: all features, peering with an external router',
    args: [...ALL, ...PEER],
    kubeconfig: 'embedded',
    rbac: true,
  },
  {
    file: 'generic-kuberouter-only-advertise-routes.yaml',
    purpose: 'route advertiser only, next to another CNI',
    args: ['--run-router=true', '--run-firewall=false', '--run-service-proxy=false', '--bgp-graceful-restart=true', '--enable-cni=false', '--enable-ibgp=false', '--enable-overlay=false', ...PEER, '--advertise-external-ip=true', '--advertise-loadbalancer-ip=true'],
    kubeconfig: 'embedded',
    rbac: true,
  },
  { file: 'kube-router-all-service-daemonset.yaml', purpose: 'quick start: all three, kubeconfig from the host', args: ALL, kubeconfig: 'host', rbac: false },
  {
    file: 'kube-router-all-service-daemonset-advertise-routes.yaml',
    purpose: 'quick start with an external peer',
    args: [...ALL, ...PEER],
    kubeconfig: 'host',
    rbac: false,
  },
  { file: 'kube-router-firewall-daemonset.yaml', purpose: 'NetworkPolicy only', args: ['--run-router=false', '--run-firewall=true', '--run-service-proxy=false'], kubeconfig: 'host', rbac: false },
  { file: 'kube-router-proxy-daemonset.yaml', purpose: 'service proxy only (kube-proxy replacement)', args: ['--run-router=false', '--run-firewall=false', '--run-service-proxy=true'], kubeconfig: 'host', rbac: false },
];

const BRIDGE_PLUGIN = { name: 'kubernetes', type: 'bridge', bridge: 'kube-bridge', isDefaultGateway: true, hairpinMode: true, ipam: { type: 'host-local' } };
/** `.conf`: a single plugin; kube-router fills in the node's pod CIDRs and MTU. */
const CNI_CONF = { cniVersion: '0.3.0', ...BRIDGE_PLUGIN, name: 'mynet' };
/** `.conflist`: bridge plus portmap, for hostPort. */
const CNI_CONF_HOSTPORT = { cniVersion: '0.3.0', name: 'mynet', plugins: [BRIDGE_PLUGIN, { type: 'portmap', capabilities: { snat: true, portMappings: true } }] };

function rbac(): object[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'kube-router', namespace: 'kube-system' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'kube-router' },
      rules: [
        { apiGroups: [''], resources: ['namespaces', 'pods', 'services', 'nodes', 'endpoints'], verbs: ['list', 'get', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'get', 'watch'] },
        { apiGroups: ['policy.networking.k8s.io'], resources: ['clusternetworkpolicies'], verbs: ['list', 'get', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'get', 'watch'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
        { apiGroups: [''], resources: ['services/status'], verbs: ['update'] },
        // Warning Events on the objects we refuse (kubectl describe shows why).
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'kube-router' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kube-router' },
      subjects: [{ kind: 'ServiceAccount', name: 'kube-router', namespace: 'kube-system' }],
    },
  ];
}

function daemonSet(v: Variant): object {
  const confFile = v.hostport ? '/etc/cni/net.d/10-kuberouter.conflist' : '/etc/cni/net.d/10-kuberouter.conf';
  const kubeconfigVolume =
    v.kubeconfig === 'kubeadm'
      ? { name: 'kubeconfig', configMap: { name: 'kube-proxy', items: [{ key: 'kubeconfig.conf', path: 'kubeconfig' }] } }
      : v.kubeconfig === 'embedded'
        ? { name: 'kubeconfig', configMap: { name: 'kube-router-context', items: [{ key: 'kubeconfig', path: 'kubeconfig' }] } }
        : { name: 'kubeconfig', hostPath: { path: '/var/lib/kube-router' } };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'kube-router', namespace: 'kube-system', labels: { 'k8s-app': 'kube-router', tier: 'node' } },
    spec: {
      selector: { matchLabels: { 'k8s-app': 'kube-router', tier: 'node' } },
      template: {
        metadata: { labels: { 'k8s-app': 'kube-router', tier: 'node' } },
        spec: {
          priorityClassName: 'system-node-critical',
          ...(v.rbac ? { serviceAccountName: 'kube-router' } : {}),
          hostNetwork: true,
          hostPID: true,
          ...(v.dsr ? { hostIPC: true } : {}),
          tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }, { operator: 'Exists', effect: 'NoExecute' }, { key: 'CriticalAddonsOnly', operator: 'Exists' }],
          containers: [
            {
              name: 'kube-router',
              image: IMAGE,
              imagePullPolicy: 'IfNotPresent',
              args: [...v.args, '--kubeconfig=/var/lib/kube-router/kubeconfig', `--metrics-port=${METRICS_PORT}`],
              ports: [{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'KUBE_ROUTER_CNI_CONF_FILE', value: confFile },
              ],
              securityContext: { privileged: true },
              livenessProbe: { httpGet: { path: '/healthz', port: HEALTH_PORT }, initialDelaySeconds: 10, periodSeconds: 3 },
              resources: { requests: { cpu: '250m', memory: '250Mi' } },
              volumeMounts: [
                { name: 'lib-modules', mountPath: '/lib/modules', readOnly: true },
                { name: 'cni-conf-dir', mountPath: '/etc/cni/net.d' },
                { name: 'kubeconfig', mountPath: '/var/lib/kube-router', readOnly: true },
                { name: 'xtables-lock', mountPath: '/run/xtables.lock', readOnly: false },
                ...(v.dsr ? [{ name: 'cri-socket', mountPath: CRI_SOCKET_DIR, readOnly: true }] : []),
              ],
            },
          ],
          initContainers: [
            {
              name: 'install-cni',
              image: IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['/bin/sh', '-c', `set -e -x; if [ ! -f ${confFile} ]; then cp /etc/kube-router/cni-conf.json ${confFile}.tmp && mv ${confFile}.tmp ${confFile}; fi; for p in bridge host-local loopback portmap; do [ -x /opt/cni/bin/$p ] || cp /usr/lib/cni/$p /opt/cni/bin/; done`],
              volumeMounts: [
                { name: 'cni-conf-dir', mountPath: '/etc/cni/net.d' },
                { name: 'kube-router-cfg', mountPath: '/etc/kube-router' },
                { name: 'cni-bin', mountPath: '/opt/cni/bin' },
              ],
            },
          ],
          volumes: [
            { name: 'lib-modules', hostPath: { path: '/lib/modules' } },
            { name: 'cni-conf-dir', hostPath: { path: '/etc/cni/net.d' } },
            { name: 'cni-bin', hostPath: { path: '/opt/cni/bin', type: 'DirectoryOrCreate' } },
            { name: 'kube-router-cfg', configMap: { name: 'kube-router-cfg' } },
            kubeconfigVolume,
            { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } },
            ...(v.dsr ? [{ name: 'cri-socket', hostPath: { path: CRI_SOCKET_DIR } }] : []),
          ],
        },
      },
    },
  };
}

function documents(v: Variant): object[] {
  const cfg = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-router-cfg', namespace: 'kube-system', labels: { tier: 'node', 'k8s-app': 'kube-router' } }, data: { 'cni-conf.json': JSON.stringify(v.hostport ? CNI_CONF_HOSTPORT : CNI_CONF, null, 2) + '\n' } };
  const context =
    v.kubeconfig === 'embedded'
      ? [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'kube-router-context', namespace: 'kube-system' },
            data: {
              kubeconfig: stringify({
                apiVersion: 'v1',
                kind: 'Config',
                clusters: [{ name: 'cluster', cluster: { 'certificate-authority': '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', server: 'https://KUBERNETES_API_SERVER:6443' } }],
                users: [{ name: 'kube-router', user: { tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' } }],
                contexts: [{ name: 'kube-router', context: { cluster: 'cluster', user: 'kube-router' } }],
                'current-context': 'kube-router',
              }),
            },
          },
        ]
      : [];
  return [cfg, ...context, daemonSet(v), ...(v.rbac ? rbac() : [])];
}

export function renderVariant(v: Variant): string {
  return `# ${v.purpose}\n# Generated by manifests/render.ts; edit that file, not this one.\n` + documents(v).map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}

const here = resolve(dirname(fileURLToPath(import.meta.url)), '../../manifests');
export function manifestPath(v: Variant): string {
  return join(here, v.file);
}

/** Files besides the DaemonSet variants: the monitoring manifests and the Grafana dashboard. */
export const EXTRA_FILES: readonly { readonly file: string; readonly render: () => string }[] = [
  { file: 'kube-router-podmonitor.yaml', render: () => `# Prometheus Operator: scrape every kube-router pod's metrics port\n# Generated by manifests/render.ts; edit manifests/monitoring.ts, not this file.\n` + podMonitor().map((d) => stringify(d, { lineWidth: 0 })).join('---\n') },
  { file: 'kube-router-servicemonitor.yaml', render: () => `# Prometheus Operator: a headless Service on the metrics port and a ServiceMonitor for it\n# Generated by manifests/render.ts; edit manifests/monitoring.ts, not this file.\n` + serviceMonitor().map((d) => stringify(d, { lineWidth: 0 })).join('---\n') },
  { file: 'dashboard/kube-router.json', render: () => JSON.stringify(dashboard(), null, 2) + '\n' },
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let stale = 0;
  const all = [...VARIANTS.map((v) => ({ file: v.file, render: () => renderVariant(v) })), ...EXTRA_FILES];
  for (const v of all) {
    const text = v.render();
    if (check) {
      let cur = '';
      try {
        cur = readFileSync(join(here, v.file), 'utf8');
      } catch {
        cur = '';
      }
      if (cur !== text) {
        stale++;
        process.stderr.write(`stale: manifests/${v.file}\n`);
      }
    } else {
      mkdirSync(dirname(join(here, v.file)), { recursive: true });
      writeFileSync(join(here, v.file), text);
    }
  }
  process.exit(stale > 0 ? 1 : 0);
}
