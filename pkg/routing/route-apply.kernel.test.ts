/**
 * The router's apply against the real kernel in a throwaway namespace (routes and nexthop objects over
 * our rtnetlink socket, written from the worker as the daemon does): learned routes share one nexthop
 * object per gateway, a second apply writes nothing, a gateway whose routes all go is one delete, and
 * another tool's object in our id range is left alone.
 */
import assert from 'node:assert/strict';
import type { LearnedPath } from '../bgp/speaker/rib.js';
import { fakeKernel } from '../linux/fake-adapters.js';
import { realNetlinkSockets } from '../linux/genl/socket.js';
import { RealNetlink } from '../linux/netlink/real.js';
import { KUBE_ROUTER_RT_PROTO, OWNED_NEXTHOP_IDS, type NetOp } from '../linux/netlink/types.js';
import type { CIDR, IP } from '../util/ip.js';
import { memoryLogger } from '../util/logger.js';
import { throwawayNetns } from '../../test/throwaway-netns.js';
import { RouteApplier } from './route-apply.js';
import { computeRouteModel, type RouteModelInput } from './route-model.js';

const ip = (s: string): IP => s as IP;
const path = (prefix: string, nextHop: string): LearnedPath => ({ prefix: prefix as CIDR, nextHop: ip(nextHop), asPath: [], origin: 0, communities: [], peer: ip(nextHop), peerId: ip(nextHop), ibgp: true });
const input = (best: LearnedPath[]): RouteModelInput => ({
  families: [4],
  best,
  addresses: [{ dev: 'krt0', ip: ip('198.18.0.11'), prefix: 24 }],
  ownPrefixes: ['198.18.64.0/24' as CIDR],
  nextHop: { 4: ip('198.18.0.11') },
  overlay: { enabled: false, type: 'subnet', encap: { kind: 'vxlan' }, available: true },
});

describe('routing: learned routes through nexthop objects in the real kernel', function () {
  this.timeout(30_000);

  it('one object per gateway; a second apply writes nothing; a gateway withdrawn is one delete; another tool\'s object in our range stays', async () => {
    const ns = await throwawayNetns();
    const nl = new RealNetlink(ns.exec, { sockets: realNetlinkSockets(), netns: ns.name, writesFrom: 'worker' }, ns.name);
    try {
      await ns.exec.run(['ip', 'link', 'add', 'krt0', 'type', 'veth', 'peer', 'name', 'krt0p']);
      await ns.exec.run(['ip', 'link', 'set', 'krt0', 'up']);
      await ns.exec.run(['ip', 'link', 'set', 'krt0p', 'up']);
      await ns.exec.run(['ip', 'address', 'add', '198.18.0.11/24', 'dev', 'krt0']);
      const base = OWNED_NEXTHOP_IDS.base;
      await ns.exec.run(['ip', 'nexthop', 'add', 'id', String(base), 'via', '198.18.0.50', 'dev', 'krt0', 'proto', 'static']);
      const batches: NetOp[][] = [];
      const counting = Object.assign(Object.create(nl) as RealNetlink, {
        apply: (ops: readonly NetOp[]) => {
          batches.push([...ops]);
          return nl.apply(ops);
        },
      });
      const a = new RouteApplier(fakeKernel({ netlink: counting }), memoryLogger(0).logger);
      const paths = [path('198.19.1.0/24', '198.18.0.12'), path('198.19.2.0/24', '198.18.0.12'), path('198.19.3.0/24', '198.18.0.13')];
      const first = await a.apply(computeRouteModel(input(paths)), { checkKernel: true, keepUnwanted: false });
      assert.deepEqual([...(first.nexthops?.ids ?? [])], [['198.18.0.12', base + 1], ['198.18.0.13', base + 2]]);
      const shown = (await ns.exec.run(['ip', 'route', 'show', 'proto', '44'])).stdout;
      assert.match(shown, new RegExp(`198\\.19\\.1\\.0/24 nhid ${base + 1} via 198\\.18\\.0\\.12 dev krt0`));
      assert.match(shown, new RegExp(`198\\.19\\.3\\.0/24 nhid ${base + 2} via 198\\.18\\.0\\.13 dev krt0`));
      const written = batches.length;
      await a.apply(computeRouteModel(input(paths)), { checkKernel: true, keepUnwanted: false });
      assert.equal(batches.length, written, `a second apply writes nothing: ${JSON.stringify(batches.slice(written))}`);
      const gone = await a.apply(computeRouteModel(input([paths[2] as LearnedPath])), { checkKernel: false, keepUnwanted: false });
      assert.deepEqual([gone.added, gone.removed], [0, 2]);
      assert.deepEqual(batches.slice(written), [[{ op: 'nexthop-delete', id: base + 1 }]]);
      assert.deepEqual((await nl.routes(4, { protocol: KUBE_ROUTER_RT_PROTO })).map((r) => r.dst), ['198.19.3.0/24']);
      const objects = (await ns.exec.run(['ip', 'nexthop', 'show'])).stdout;
      assert.match(objects, new RegExp(`id ${base} via 198\\.18\\.0\\.50 dev krt0 scope link proto static`), "another tool's object in our range stays");
      assert.doesNotMatch(objects, new RegExp(`id ${base + 1} `));
    } finally {
      await ns.remove();
    }
  });
});
