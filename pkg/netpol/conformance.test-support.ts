/**
 * The NetworkPolicy conformance scenarios, modelled on the upstream Kubernetes network-policy e2e
 * suite: namespaces x, y, z; pods a, b, c in each serving TCP and UDP on ports 80 and 81; after every
 * step the whole reachability matrix (every pod to every pod, each port and protocol) is compared with
 * the reference semantics. Shared by the fast test (kernel fakes + packet evaluator) and the lab test
 * (real kernel, real packets).
 */
import { allowed, type World, type WorldPod } from './reference.test-support.js';

type Json = Record<string, unknown>;

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export const PROBES = [
  { port: 80, protocol: 'TCP' },
  { port: 81, protocol: 'TCP' },
  { port: 80, protocol: 'UDP' },
  { port: 81, protocol: 'UDP' },
] as const;

/** Named ports: `web` is 80 on a and b but 81 on c, so a named port must resolve per pod. */
export function podPorts(name: string): WorldPod['ports'] {
  const web = name === 'c' ? 81 : 80;
  return [
    { name: 'web', port: web, protocol: 'TCP' },
    { name: 'alt', port: web === 80 ? 81 : 80, protocol: 'TCP' },
    { name: 'dns', port: 80, protocol: 'UDP' },
    { name: 'dns-alt', port: 81, protocol: 'UDP' },
  ];
}

export type Step =
  | { readonly kind: 'apply-policy'; readonly policy: (w: World) => Json }
  | { readonly kind: 'delete-policy'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'label-pod'; readonly pod: string; readonly labels: Record<string, string> }
  | { readonly kind: 'label-namespace'; readonly namespace: string; readonly labels: Record<string, string> }
  | { readonly kind: 'recreate-pod'; readonly pod: string }
  | { readonly kind: 'apply-cluster-policy'; readonly policy: (w: World) => Json }
  | { readonly kind: 'delete-cluster-policy'; readonly name: string };

export interface Scenario {
  readonly name: string;
  readonly steps: readonly Step[];
}

const np = (namespace: string, name: string, spec: Json): ((w: World) => Json) => () => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec });
const apply = (namespace: string, name: string, spec: Json): Step => ({ kind: 'apply-policy', policy: np(namespace, name, spec) });
const podSel = (pod: string): Json => ({ matchLabels: { pod } });
const nsSel = (ns: string): Json => ({ matchLabels: { ns } });
const ipOf = (w: World, key: string): string => (w.pods.get(key) as WorldPod).ip;

export const SCENARIOS: readonly Scenario[] = [
  { name: 'no policy: every pod reaches every pod', steps: [] },
  { name: 'default deny ingress in x', steps: [apply('x', 'deny-in', { podSelector: {}, policyTypes: ['Ingress'] })] },
  { name: 'default deny egress in x', steps: [apply('x', 'deny-out', { podSelector: {}, policyTypes: ['Egress'] })] },
  { name: 'deny all both ways in x', steps: [apply('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })] },
  { name: 'allow ingress to x/a from namespace y', steps: [apply('x', 'from-y', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y') }] }] })] },
  { name: 'allow ingress to x/a from pod b of its namespace', steps: [apply('x', 'from-b', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: podSel('b') }] }] })] },
  {
    name: 'allow ingress to x/a from pods b in namespace y (both selectors in one peer)',
    steps: [apply('x', 'from-y-b', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y'), podSelector: podSel('b') }] }] })],
  },
  {
    name: 'allow ingress to x/a from pod b of x or any pod of z (two peers)',
    steps: [apply('x', 'two-peers', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: podSel('b') }, { namespaceSelector: nsSel('z') }] }] })],
  },
  { name: 'allow ingress on the named port web only (80 on a and b, 81 on c)', steps: [apply('x', 'named', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })] },
  {
    name: 'allow ingress on TCP 80-81 (endPort) from namespace y, and UDP 81 from anywhere',
    steps: [apply('x', 'range', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [{ protocol: 'TCP', port: 80, endPort: 81 }] }, { ports: [{ protocol: 'UDP', port: 81 }] }] })],
  },
  {
    name: 'allow ingress from an ipBlock with except',
    steps: [{ kind: 'apply-policy', policy: (w) => np('x', 'block', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '198.18.0.0/15', except: [`${ipOf(w, 'y/b')}/32`, `${ipOf(w, 'z/c')}/32`] } }] }] })(w) }],
  },
  {
    name: 'allow egress from x/a only to one address on TCP 80 (ipBlock /32)',
    steps: [{ kind: 'apply-policy', policy: (w) => np('x', 'to-cidr', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${ipOf(w, 'y/a')}/32` } }], ports: [{ port: 80 }] }] })(w) }],
  },
  {
    name: 'allow egress from x/a to the whole range on UDP only, ipBlock 0.0.0.0/0 with except',
    steps: [{ kind: 'apply-policy', policy: (w) => np('x', 'udp-out', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: [`${ipOf(w, 'z/b')}/32`] } }], ports: [{ protocol: 'UDP' }] }] })(w) }],
  },
  {
    name: 'match expressions: In, NotIn, Exists, DoesNotExist',
    steps: [
      apply('x', 'exprs', {
        podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] },
        ingress: [
          { from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y', 'z'] }] }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }, { key: 'pod', operator: 'In', values: ['a', 'c'] }] } }] },
          { from: [{ podSelector: { matchExpressions: [{ key: 'missing', operator: 'DoesNotExist' }, { key: 'pod', operator: 'In', values: ['a'] }] } }] },
        ],
      }),
    ],
  },
  {
    name: 'policies combine as a union',
    steps: [
      apply('x', 'p1', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 80 }] }] }),
      apply('x', 'p2', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('z') }], ports: [{ port: 81 }, { protocol: 'UDP', port: 80 }] }] }),
    ],
  },
  {
    name: 'egress on a named port resolves on the destination pod',
    steps: [apply('y', 'out-web', { podSelector: podSel('b'), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'web' }] }] })],
  },
  {
    name: 'egress rules without policyTypes isolate both directions',
    steps: [apply('z', 'implicit', { podSelector: podSel('c'), egress: [{ to: [{ podSelector: {} }] }] })],
  },
  { name: 'an empty ingress rule allows everything', steps: [apply('x', 'deny-in', { podSelector: {}, policyTypes: ['Ingress'] }), apply('x', 'allow-any', { podSelector: podSel('b'), ingress: [{}] })] },
  {
    name: 'a policy updated, then deleted',
    steps: [
      apply('x', 'changing', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y') }] }] }),
      apply('x', 'changing', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('z') }], ports: [{ protocol: 'UDP', port: 81 }] }] }),
      { kind: 'delete-policy', namespace: 'x', name: 'changing' },
    ],
  },
  {
    name: 'pods relabelled in and out of a selection',
    steps: [
      apply('x', 'from-b', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: podSel('b') }] }] }),
      { kind: 'label-pod', pod: 'x/c', labels: { pod: 'b' } },
      { kind: 'label-pod', pod: 'x/b', labels: { pod: 'q' } },
      { kind: 'label-pod', pod: 'x/a', labels: { pod: 'q' } },
    ],
  },
  {
    name: 'namespaces relabelled in and out of a selection',
    steps: [
      apply('x', 'from-y', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: nsSel('y') }] }] }),
      { kind: 'label-namespace', namespace: 'z', labels: { ns: 'y' } },
      { kind: 'label-namespace', namespace: 'y', labels: { ns: 'q' } },
    ],
  },
  {
    name: 'a pod recreated with a new IP',
    steps: [
      apply('x', 'from-b', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: podSel('b') }] }] }),
      { kind: 'recreate-pod', pod: 'x/b' },
      { kind: 'recreate-pod', pod: 'x/a' },
    ],
  },
];

const cnp = (name: string, spec: Json): Step => ({ kind: 'apply-cluster-policy', policy: () => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec }) });
const nsSubject = (ns: string): Json => ({ namespaces: nsSel(ns) });
const fromNs = (ns: string): Json => ({ namespaces: nsSel(ns) });
const everyNs: Json = { namespaces: {} };

/**
 * ClusterNetworkPolicy (v1alpha2) scenarios, modelled on the cases of that API's own conformance
 * suite: each tier's actions, priorities, rule order, Pass into the next tier, subjects and peers by
 * namespace and by pod, networks, ports, ranges and named ports, both directions, with and against
 * NetworkPolicies.
 */
export const CNP_SCENARIOS: readonly Scenario[] = [
  { name: 'admin Deny overrides a NetworkPolicy that allows', steps: [apply('x', 'from-y', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: nsSel('y') }] }] }), cnp('deny-y', { tier: 'Admin', priority: 10, subject: nsSubject('x'), ingress: [{ action: 'Deny', from: [fromNs('y')] }] })] },
  { name: 'admin Accept overrides a NetworkPolicy that denies', steps: [apply('x', 'deny-in', { podSelector: {}, policyTypes: ['Ingress'] }), cnp('accept-z-80', { tier: 'Admin', priority: 10, subject: nsSubject('x'), ingress: [{ action: 'Accept', from: [fromNs('z')], protocols: [{ tcp: { destinationPort: { number: 80 } } }] }] })] },
  {
    name: 'admin Pass hands over to NetworkPolicy; a lower-priority Deny does not see it',
    steps: [cnp('pass-y', { tier: 'Admin', priority: 10, subject: nsSubject('x'), ingress: [{ action: 'Pass', from: [fromNs('y')] }] }), cnp('deny-all', { tier: 'Admin', priority: 20, subject: nsSubject('x'), ingress: [{ action: 'Deny', from: [everyNs] }] }), apply('x', 'a-from-y', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 80 }] }] })],
  },
  {
    name: 'priorities: the lower number wins whatever the order of creation',
    steps: [cnp('later-accept', { tier: 'Admin', priority: 50, subject: nsSubject('y'), ingress: [{ action: 'Accept', from: [fromNs('z')] }] }), cnp('first-deny', { tier: 'Admin', priority: 5, subject: nsSubject('y'), ingress: [{ action: 'Deny', from: [{ pods: { namespaceSelector: nsSel('z'), podSelector: podSel('a') } }] }] })],
  },
  {
    name: 'rule order inside one policy: the first match decides',
    steps: [cnp('ordered', { tier: 'Admin', priority: 1, subject: nsSubject('z'), ingress: [{ action: 'Deny', from: [everyNs], protocols: [{ udp: { destinationPort: { range: { start: 1, end: 65535 } } } }] }, { action: 'Accept', from: [everyNs] }, { action: 'Deny', from: [everyNs] }] }), apply('z', 'deny-in', { podSelector: {}, policyTypes: ['Ingress'] })],
  },
  {
    name: 'baseline Deny only for pods no NetworkPolicy isolates',
    steps: [cnp('base-deny', { tier: 'Baseline', priority: 1, subject: nsSubject('x'), ingress: [{ action: 'Deny', from: [everyNs] }] }), apply('x', 'a-from-y', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: nsSel('y') }] }] })],
  },
  {
    name: 'baseline Accept before a baseline Deny; admin Pass reaches the baseline',
    steps: [cnp('base', { tier: 'Baseline', priority: 1, subject: nsSubject('y'), ingress: [{ action: 'Accept', from: [fromNs('x')] }, { action: 'Deny', from: [everyNs] }] }), cnp('admin-pass', { tier: 'Admin', priority: 1, subject: nsSubject('y'), ingress: [{ action: 'Pass', from: [fromNs('z')] }] })],
  },
  {
    name: 'egress: admin Deny to a network and a port range, subject by pod selector',
    steps: [{ kind: 'apply-cluster-policy', policy: (w) => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'egress-net' }, spec: { tier: 'Admin', priority: 3, subject: { pods: { namespaceSelector: {}, podSelector: podSel('a') } }, egress: [{ action: 'Deny', to: [{ networks: [`${ipOf(w, 'z/b')}/32`, `${ipOf(w, 'y/c')}/32`] }], protocols: [{ tcp: { destinationPort: { range: { start: 80, end: 81 } } } }] }] } }) }],
  },
  {
    name: 'named port: admin Accept on web, then Deny the rest of the namespace',
    steps: [cnp('web-only', { tier: 'Admin', priority: 2, subject: nsSubject('x'), ingress: [{ action: 'Accept', from: [everyNs], protocols: [{ destinationNamedPort: 'web' }] }, { action: 'Deny', from: [everyNs] }] })],
  },
  {
    name: 'egress baseline Deny to a namespace, a NetworkPolicy of the source namespace takes over',
    steps: [cnp('no-z', { tier: 'Baseline', priority: 9, subject: everyNs, egress: [{ action: 'Deny', to: [fromNs('z')] }] }), apply('y', 'y-egress', { podSelector: podSel('b'), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsSel('z') }], ports: [{ port: 80 }] }] })],
  },
  {
    name: 'a cluster policy updated, then deleted; a namespace relabelled into its subject',
    steps: [
      cnp('moving', { tier: 'Admin', priority: 4, subject: nsSubject('x'), ingress: [{ action: 'Deny', from: [fromNs('y')] }] }),
      cnp('moving', { tier: 'Admin', priority: 4, subject: nsSubject('x'), ingress: [{ action: 'Deny', from: [fromNs('z')], protocols: [{ udp: { destinationPort: { number: 81 } } }] }] }),
      { kind: 'label-namespace', namespace: 'y', labels: { ns: 'x' } },
      { kind: 'delete-cluster-policy', name: 'moving' },
    ],
  },
];

export function probeKey(from: string, to: string, port: number, protocol: string): string {
  return `${from}>${to}:${port}/${protocol}`;
}

/** The expected matrix for the world as it stands. */
export function expectedMatrix(w: World): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const [fk, from] of w.pods) for (const [tk, to] of w.pods) for (const p of PROBES) out.set(probeKey(fk, tk, p.port, p.protocol), allowed(w, from, to, p.port, p.protocol));
  return out;
}

/** A readable matrix: rows are sources, columns targets; each cell the four probes (T80 T81 U80 U81), `.` allowed, `X` denied, `!` where it differs from the expectation. */
export function formatMatrix(w: World, got: ReadonlyMap<string, boolean>, want: ReadonlyMap<string, boolean>): string {
  const keys = [...w.pods.keys()].sort();
  const lines = [`${'from \\ to'.padEnd(10)}${keys.map((k) => k.padEnd(6)).join('')}`];
  for (const f of keys) {
    let row = f.padEnd(10);
    for (const t of keys) {
      let cell = '';
      for (const p of PROBES) {
        const k = probeKey(f, t, p.port, p.protocol);
        const g = got.get(k);
        cell += g === want.get(k) ? (g ? '.' : 'X') : '!';
      }
      row += cell.padEnd(6);
    }
    lines.push(row);
  }
  return lines.join('\n');
}

export function mismatches(got: ReadonlyMap<string, boolean>, want: ReadonlyMap<string, boolean>): string[] {
  return [...want].filter(([k, v]) => got.get(k) !== v).map(([k, v]) => `${k}: expected ${v ? 'allowed' : 'denied'}, got ${got.get(k) === undefined ? 'no result' : got.get(k) ? 'allowed' : 'denied'}`);
}

export function podObject(p: WorldPod): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
    spec: { nodeName: p.node, containers: [{ name: 'c', ports: p.ports.map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol })) }] },
  };
}

export function namespaceObject(name: string, labels: Record<string, string>): Json {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}
