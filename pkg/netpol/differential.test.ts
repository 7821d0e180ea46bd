import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { KNP_EVAL_BIN } from '../../test/paths.js';
import { FakeCluster, type BackendKind } from './fake-cluster.test-support.js';
import { NAMESPACES, POD_NAMES, PROBES, probeKey, type Step } from './conformance.test-support.js';
import type { World } from './reference.test-support.js';

type Json = Record<string, unknown>;

/**
 * Differential testing against an independent implementation: random NetworkPolicies over random pod
 * and namespace labels (seeded; fast-check shrinks a failure to a minimal world), the whole
 * reachability matrix computed by both our backends (compiled, programmed into the kernel fakes,
 * walked by the packet evaluators) and by kube-network-policies' own evaluator (its Go module,
 * scripts/knp-eval), compared cell by cell. KRT_DIFF_RUNS sets the number of worlds (CI: a smoke
 * size), KRT_DIFF_SEED the seed.
 */

const LABEL_VALUES = ['1', '2'];
const labelsArb = (fixed: Record<string, string>): fc.Arbitrary<Record<string, string>> =>
  fc.record({ app: fc.option(fc.constantFrom('web', 'db'), { nil: undefined }), tier: fc.option(fc.constantFrom(...LABEL_VALUES), { nil: undefined }) }).map((r) => ({ ...fixed, ...Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Record<string, string> }));

const selectorArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: fc.oneof(fc.record({ app: fc.constantFrom('web', 'db') }), fc.record({ tier: fc.constantFrom(...LABEL_VALUES) }), fc.record({ pod: fc.constantFrom(...POD_NAMES) }), fc.record({ ns: fc.constantFrom(...NAMESPACES) })) }),
  fc.record({
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key: fc.constantFrom('app', 'tier', 'pod', 'ns'), operator: fc.constantFrom('In', 'NotIn'), values: fc.uniqueArray(fc.constantFrom('web', 'db', '1', '2', 'a', 'b', 'x', 'y'), { minLength: 1, maxLength: 2 }) }),
        fc.record({ key: fc.constantFrom('app', 'tier'), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
      ),
      { minLength: 1, maxLength: 2 },
    ),
  }),
);

/** Pod addresses are 198.18.64.11-13 (node-a) and 198.18.65.11-16 (node-b): blocks around them. */
const ipBlockArb: fc.Arbitrary<Json> = fc.oneof(
  fc.record({ cidr: fc.constantFrom('198.18.64.0/24', '198.18.65.0/24', '198.18.64.0/23', '0.0.0.0/0', '198.18.65.12/32') }),
  fc.record({ cidr: fc.constant('198.18.64.0/23'), except: fc.uniqueArray(fc.constantFrom('198.18.64.12/32', '198.18.65.0/28', '198.18.65.14/31'), { minLength: 1, maxLength: 2 }) }),
);

const peerArb: fc.Arbitrary<Json> = fc.oneof(
  fc.record({ podSelector: selectorArb }),
  fc.record({ namespaceSelector: selectorArb }),
  fc.record({ podSelector: selectorArb, namespaceSelector: selectorArb }),
  fc.record({ ipBlock: ipBlockArb }),
);

const portArb: fc.Arbitrary<Json> = fc.oneof(
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.constantFrom(80, 81) }),
  fc.record({ port: fc.constantFrom(80, 81) }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP') }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.constant(79), endPort: fc.constantFrom(80, 81) }),
  fc.record({ port: fc.constantFrom('web', 'alt') }),
  fc.record({ protocol: fc.constant('UDP'), port: fc.constantFrom('dns', 'dns-alt') }),
);

const ruleArb = (peerKey: 'from' | 'to'): fc.Arbitrary<Json> =>
  fc.record({ peers: fc.option(fc.array(peerArb, { maxLength: 2 }), { nil: undefined }), ports: fc.option(fc.array(portArb, { maxLength: 2 }), { nil: undefined }) }).map((r) => ({ ...(r.peers ? { [peerKey]: r.peers } : {}), ...(r.ports ? { ports: r.ports } : {}) }));

const policyArb: fc.Arbitrary<{ namespace: string; spec: Json }> = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  podSelector: selectorArb,
  policyTypes: fc.option(fc.constantFrom(['Ingress'], ['Egress'], ['Ingress', 'Egress']), { nil: undefined }),
  ingress: fc.option(fc.array(ruleArb('from'), { maxLength: 2 }), { nil: undefined }),
  egress: fc.option(fc.array(ruleArb('to'), { maxLength: 2 }), { nil: undefined }),
}).map((p) => ({ namespace: p.namespace, spec: { podSelector: p.podSelector, ...(p.policyTypes ? { policyTypes: p.policyTypes } : {}), ...(p.ingress ? { ingress: p.ingress } : {}), ...(p.egress ? { egress: p.egress } : {}) } }));

interface Case {
  readonly nsLabels: readonly Record<string, string>[];
  readonly podLabels: readonly Record<string, string>[];
  readonly policies: readonly { namespace: string; spec: Json }[];
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  nsLabels: fc.tuple(...NAMESPACES.map((ns) => labelsArb({ ns }))),
  podLabels: fc.tuple(...NAMESPACES.flatMap(() => POD_NAMES.map((pod) => labelsArb({ pod })))),
  policies: fc.array(policyArb, { minLength: 1, maxLength: 4 }),
});

/** Empty lists dropped, as a round trip through the API server does (every list field is omitempty). */
function omitEmpty(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(omitEmpty);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v as Json).filter(([, x]) => !(Array.isArray(x) && x.length === 0)).map(([k, x]) => [k, omitEmpty(x)]));
}

/** What the API server stores: defaults filled in (policyTypes, protocols), empty lists gone, as kube-network-policies reads it. */
function defaulted(specIn: Json): Json {
  const spec = omitEmpty(specIn) as Json;
  const withProto = (rules: unknown): unknown => (Array.isArray(rules) ? rules.map((r: Json) => (r['ports'] ? { ...r, ports: (r['ports'] as Json[]).map((p) => ({ protocol: 'TCP', ...p })) } : r)) : rules);
  const out: Json = { ...spec, ...(spec['ingress'] ? { ingress: withProto(spec['ingress']) } : {}), ...(spec['egress'] ? { egress: withProto(spec['egress']) } : {}) };
  if (!spec['policyTypes']) out['policyTypes'] = ['Ingress', ...(Array.isArray(spec['egress']) && spec['egress'].length > 0 ? ['Egress'] : [])];
  return out;
}

/** kube-network-policies' evaluator: one long-lived process, one world per line. */
class KnpEval {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterableIterator<string>;
  constructor() {
    this.child = spawn(KNP_EVAL_BIN, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.resume();
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async matrix(w: World): Promise<Map<string, boolean>> {
    const pods = [...w.pods.values()];
    const probes: { key: string; src: string; dst: string; port: number; protocol: string }[] = [];
    for (const [fk, f] of w.pods) for (const [tk, t] of w.pods) if (fk !== tk) for (const p of PROBES) probes.push({ key: probeKey(fk, tk, p.port, p.protocol), src: f.ip, dst: t.ip, port: p.port, protocol: p.protocol });
    const world = {
      namespaces: [...w.namespaces].map(([name, labels]) => ({ metadata: { name, labels } })),
      pods: pods.map((p) => ({ metadata: { namespace: p.namespace, name: p.name, labels: p.labels }, spec: { nodeName: p.node, containers: [{ name: 'c', ports: p.ports.map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol })) }] }, status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] } })),
      policies: [...w.policies.values()].map((raw) => ({ ...raw, spec: defaulted(raw['spec'] as Json) })),
      probes: probes.map(({ key: _k, ...rest }) => rest),
    };
    this.child.stdin.write(JSON.stringify(world) + '\n');
    const next = await this.lines.next();
    const answer = JSON.parse(next.value as string) as { allowed?: boolean[]; error?: string };
    if (!answer.allowed) throw new Error(`knp-eval: ${answer.error ?? 'no answer'}`);
    return new Map(probes.map((p, i) => [p.key, answer.allowed?.[i] ?? false]));
  }
  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

async function ours(kind: BackendKind, c: Case): Promise<{ world: World; matrix: Map<string, boolean> }> {
  const cluster = new FakeCluster(kind);
  for (const n of cluster.nodes) await n.sync(true);
  const steps: Step[] = [
    ...NAMESPACES.map((ns, i): Step => ({ kind: 'label-namespace', namespace: ns, labels: c.nsLabels[i] ?? { ns } })),
    ...NAMESPACES.flatMap((ns, i) => POD_NAMES.map((pod, j): Step => ({ kind: 'label-pod', pod: `${ns}/${pod}`, labels: c.podLabels[i * POD_NAMES.length + j] ?? { pod } }))),
    ...c.policies.map((p, i): Step => ({ kind: 'apply-policy', policy: () => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: p.namespace, name: `p${i}` }, spec: p.spec }) })),
  ];
  for (const s of steps) await cluster.step(s);
  const m = cluster.matrix();
  for (const k of [...m.keys()]) if (/^(\S+)>\1:/.test(k)) m.delete(k);
  return { world: cluster.world, matrix: m };
}

describe('firewall differential testing against kube-network-policies (random policies, both backends)', function () {
  this.timeout(600_000);
  let knp: KnpEval | undefined;
  before(() => {
    assert.ok(existsSync(KNP_EVAL_BIN), `${KNP_EVAL_BIN} is missing: scripts/setup.sh builds it (scripts/knp-eval/build.sh)`);
    knp = new KnpEval();
  });
  after(() => knp?.close());

  it('every cell of every random world agrees', async () => {
    const runs = Number(process.env['KRT_DIFF_RUNS'] ?? 60);
    const seed = Number(process.env['KRT_DIFF_SEED'] ?? 20261202);
    let cells = 0;
    let denied = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const a = await ours('iptables', c);
        const b = await ours('nftables', c);
        const theirs = await (knp as KnpEval).matrix(a.world);
        const diff: string[] = [];
        for (const [k, v] of theirs) {
          if (a.matrix.get(k) !== v || b.matrix.get(k) !== v) diff.push(`${k}: kube-network-policies ${String(v)}, iptables ${String(a.matrix.get(k))}, nftables ${String(b.matrix.get(k))}`);
          cells++;
          if (!v) denied++;
        }
        assert.deepEqual(diff.slice(0, 10), [], JSON.stringify(c.policies));
      }),
      { numRuns: runs, seed, endOnFailure: false },
    );
    // The generator reaches both outcomes (a property that only ever sees "allowed" proves little).
    assert.ok(denied > cells / 20 && denied < cells, `${denied} of ${cells} cells denied`);
    process.stdout.write(`      ${runs} worlds, ${cells} cells, ${denied} denied; seed ${seed}\n`);
  });
});
