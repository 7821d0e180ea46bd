import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CIDR, IP } from '../../util/ip.js';
import { better, rechooseBest, type LearnedPath, type PeerRib } from './rib.js';

const PEERS = ['198.18.0.1', '198.18.0.2', '198.18.0.3'] as IP[];
const PREFIXES = ['198.18.64.0/24', '198.18.65.0/24', '198.18.66.0/24'] as CIDR[];

/** The best path of one prefix chosen from scratch over every peer, in peer order. */
function chooseFromScratch(k: string, peers: readonly PeerRib[]): LearnedPath | undefined {
  let cur: LearnedPath | undefined;
  for (const p of peers) {
    const path = p.adjIn.get(k);
    if (path && (!cur || better(path, cur))) cur = path;
  }
  return cur;
}

const change = fc.record({
  peer: fc.nat({ max: PEERS.length - 1 }),
  prefix: fc.constantFrom(...PREFIXES),
  // undefined: a withdrawal
  path: fc.option(fc.record({ localPref: fc.constantFrom(100, 200), asLen: fc.nat({ max: 2 }), med: fc.constantFrom(0, 10), ibgp: fc.boolean(), origin: fc.constantFrom(0 as const, 2 as const) }), { nil: undefined }),
});

describe('best path kept up to date one prefix at a time', function () {
  it('after any sequence of announcements and withdrawals, equals a choice from scratch over all peers', function () {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), (changes) => {
        const ribs = PEERS.map((address) => ({ address, adjIn: new Map<string, LearnedPath>() }));
        const best = new Map<string, LearnedPath>();
        for (const c of changes) {
          const rib = ribs[c.peer] as (typeof ribs)[number];
          const peer = rib.address;
          if (c.path) {
            rib.adjIn.set(c.prefix, { prefix: c.prefix, nextHop: peer, asPath: Array.from({ length: c.path.asLen }, () => 65000), origin: c.path.origin, localPref: c.path.localPref, med: c.path.med, communities: [], peer, peerId: peer, ibgp: c.path.ibgp });
          } else rib.adjIn.delete(c.prefix);
          rechooseBest(best, c.prefix, ribs, rib);
          for (const k of PREFIXES) assert.equal(best.get(k), chooseFromScratch(k, ribs), `${k} after ${JSON.stringify(c)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
