import type { JsonObject } from '../fixture/apiserver/store.js';

export const BENCH_NODE = 'bench-node';
export const BENCH_POD_CIDR = '198.18.64.0/23';

/** The i-th local pod address in 198.18.64.0/23 (room for 500). */
export function localPodIP(i: number): string {
  const n = 10 + i;
  return `198.18.${64 + Math.floor(n / 256)}.${n % 256}`;
}

/** Remote pod k's address in 198.19.0.0/16. */
function remotePodIP(k: number): string {
  const n = k + 1;
  return `198.19.${Math.floor(n / 256)}.${n % 256}`;
}

export function benchPod(ns: number, j: number, ip: string, node: string, name = `p${j}`): JsonObject {
  return {
    kind: 'Pod',
    metadata: { namespace: `ns${ns}`, name, labels: { app: `app${j % 10}`, tier: ['frontend', 'backend', 'db'][j % 3] as string, ...(j % 7 === 0 ? { canary: 'true' } : {}) } },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 + (j % 2) }, { name: 'metrics', containerPort: 9090 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }],
    },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

/** Ten policy shapes per namespace, covering what real clusters write (and the conformance suite tests). */
function policies(ns: number): JsonObject[] {
  const m = (name: string, spec: JsonObject): JsonObject => ({ kind: 'NetworkPolicy', metadata: { namespace: `ns${ns}`, name }, spec });
  const app = (k: number): JsonObject => ({ matchLabels: { app: `app${k}` } });
  return [
    m('default-deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    m('app-to-app', { podSelector: app(ns % 10), ingress: [{ from: [{ podSelector: app((ns + 1) % 10) }], ports: [{ port: 'http' }] }] }),
    m('team-to-backend', { podSelector: { matchLabels: { tier: 'backend' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: `t${ns % 10}` } } }], ports: [{ port: 8080 }] }] }),
    m('prod-frontends', { podSelector: { matchLabels: { tier: 'backend' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { tier: 'frontend' } } }], ports: [{ port: 8080, endPort: 8090 }] }] }),
    m('office', { podSelector: app((ns + 3) % 10), ingress: [{ from: [{ ipBlock: { cidr: '198.18.0.0/16', except: [`198.18.${100 + (ns % 50)}.0/24`] } }], ports: [{ port: 443 }] }] }),
    m('dns-out', { podSelector: app((ns + 4) % 10), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'dns', protocol: 'UDP' }, { port: 53 }] }] }),
    m('internet-out', { podSelector: app((ns + 5) % 10), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['198.19.0.0/16'] } }], ports: [{ port: 443 }] }] }),
    m('db-guard', { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['app1', 'app2'] }, { key: 'canary', operator: 'DoesNotExist' }] } }] }] }),
    m('monitoring', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { purpose: 'monitoring' } } }], ports: [{ port: 'metrics' }] }] }),
    m('backend-to-db', { podSelector: { matchLabels: { tier: 'backend' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ port: 5432 }] }] }),
  ];
}

/**
 * `namespaces` namespaces of `podsPerNs` pods with ten policies each; the first `localPods` pods (spread
 * over the namespaces) run on the benchmark node, the rest on other nodes.
 */
export function netpolObjects(namespaces: number, podsPerNs: number, localPods: number): JsonObject[] {
  const out: JsonObject[] = [
    { kind: 'Node', metadata: { name: BENCH_NODE }, spec: { podCIDRs: [BENCH_POD_CIDR] }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.10' }] } },
  ];
  let local = 0;
  let remote = 0;
  for (let ns = 0; ns < namespaces; ns++) {
    out.push({ kind: 'Namespace', metadata: { name: `ns${ns}`, labels: { team: `t${ns % 10}`, env: ns % 2 === 0 ? 'prod' : 'dev', ...(ns === 0 ? { purpose: 'monitoring' } : {}) } } });
    for (let j = 0; j < podsPerNs; j++) {
      const isLocal = local < localPods && (ns * podsPerNs + j) % Math.max(1, Math.floor((namespaces * podsPerNs) / localPods)) === 0;
      out.push(isLocal ? benchPod(ns, j, localPodIP(local++), BENCH_NODE) : benchPod(ns, j, remotePodIP(remote++), `node-${ns % 20}`));
    }
    out.push(...policies(ns));
  }
  return out;
}
