import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_MESSAGE_LEN } from '../bgp/codec/constants.js';
import { encodedSize } from '../bgp/codec/message.js';
import type { UpdateMessage } from '../bgp/codec/types.js';
import { updatesFor, type OutPath } from '../bgp/speaker/rib.js';
import { parseNode } from '../k8s/kinds/node.js';
import { toKubeObject } from '../k8s/object.js';
import { loadConfig } from '../options/load-config.js';
import type { CIDR, IP } from '../util/ip.js';
import { MAX_COMMUNITIES, MAX_PREPEND, planBgp } from './bgp-plan.js';

const config = (): Parameters<typeof planBgp>[2] => {
  const r = loadConfig(['--hostname-override=n1', '--peer-router-ips=198.18.0.200', '--peer-router-asns=65000'], { env: {}, hostname: () => 'n1', readFile: () => '' });
  if (r.kind !== 'run') throw new Error('config');
  return r.config.router;
};
const nasty = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('constructor', '__proto__', 'true', '1.5', '-1', '4294967296', '0.0.0.0/0', '::/0', 'no-export', '- remoteip: 198.18.0.9\n  remoteasn: true', '- remoteip: 198.18.0.9\n  remoteasn: 65001\n  maxprefixes: lots', '- remoteip: 198.18.0.9\n  remoteasn: 65001\n  password: ////', '{{{', 'a: [', Array.from({ length: 1100 }, (_, i) => `64512:${i}`).join(',')));
const annotations = fc.dictionary(
  fc.constantFrom('kube-router.io/peers', 'kube-router.io/peer.ips', 'kube-router.io/peer.asns', 'kube-router.io/peer.ports', 'kube-router.io/peer.passwords', 'kube-router.io/node.bgp.communities', 'kube-router.io/path-prepend.as', 'kube-router.io/path-prepend.repeat-n', 'kube-router.io/node.asn', 'kube-router.io/rr.server', 'kube-router.io/rr.client', 'kube-router.io/pod-cidr', 'kube-router.io/pod-cidrs', 'kube-router.io/node.bgp.customimportreject'),
  nasty,
);

describe('routing: hostile Node annotations (property)', () => {
  it('never throw; peers, communities and prepends stay within their budgets; every route we would send fits an UPDATE or is left out', () => {
    const cfg = config();
    fc.assert(
      fc.property(annotations, annotations, (a1, a2) => {
        const nodes = [
          parseNode(toKubeObject({ kind: 'Node', metadata: { name: 'n1', annotations: a1 }, spec: { podCIDRs: ['198.18.64.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.11' }] } }) as never),
          parseNode(toKubeObject({ kind: 'Node', metadata: { name: 'n2', annotations: a2 }, spec: { podCIDRs: ['198.18.65.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.12' }] } }) as never),
        ];
        const plan = planBgp('n1', nodes, cfg, { families: [4], serviceRanges: ['198.18.128.0/20' as CIDR] });
        if ('error' in plan) return;
        assert.ok(plan.vipCommunities.length <= MAX_COMMUNITIES);
        assert.ok(!plan.prepend || plan.prepend.count <= MAX_PREPEND);
        for (const p of plan.peers) {
          assert.ok(Number.isInteger(p.asn) && p.asn >= 1 && p.asn <= 0xffffffff, `asn ${p.asn}`);
          assert.ok(p.password === undefined || (p.password instanceof Uint8Array && p.password.length <= 80));
          assert.ok(p.maxPrefixes === undefined || Number.isInteger(p.maxPrefixes));
        }
        for (const o of plan.originations) assert.notEqual(o.prefix.split('/')[1], '0');
        // What we would send: every origination with the node's communities and prepend.
        const after = new Map<string, OutPath>(plan.originations.map((o) => [o.prefix, { prefix: o.prefix, nextHop: '198.18.0.11' as IP, asPath: Array.from({ length: plan.prepend?.count ?? 0 }, () => plan.prepend?.asn ?? 64512), origin: 0, communities: plan.vipCommunities, localPref: 100 }]));
        const r = updatesFor(new Map(), after, { size: (u: UpdateMessage) => encodedSize(u, { fourOctetAs: true }), max: MAX_MESSAGE_LEN });
        for (const u of r.updates) assert.ok(encodedSize(u, { fourOctetAs: true }) <= MAX_MESSAGE_LEN);
      }),
      { numRuns: 400, seed: 5 },
    );
  });
});
