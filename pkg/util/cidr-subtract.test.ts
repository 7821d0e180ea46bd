import assert from 'node:assert/strict';
import fc from 'fast-check';
import { subtractCidrs } from './cidr-subtract.js';
import { bigIntToIP, cidrContains, cidrParts, ipToBigInt, parseCIDR, prefixMask, type CIDR, type Family } from './ip.js';

/** A prefix inside `outer` from random bits. */
function inside(outer: CIDR, extra: number, bits: bigint): CIDR {
  const p = cidrParts(outer);
  const total = p.family === 4 ? 32 : 128;
  const prefix = Math.min(total, p.prefix + extra);
  const host = bits & ~prefixMask(p.prefix, p.family) & ((1n << BigInt(total)) - 1n);
  const net = (ipToBigInt(p.ip) | host) & prefixMask(prefix, p.family);
  return `${bigIntToIP(net, p.family)}/${prefix}` as CIDR;
}

describe('util: CIDR subtraction (ipBlock excepts as nft interval elements)', () => {
  it('hand-checked: a /16 minus a /24 is 8 prefixes; minus itself nothing; disjoint excepts change nothing', () => {
    assert.deepEqual(subtractCidrs(parseCIDR('198.18.0.0/16'), [parseCIDR('198.18.1.0/24')]), ['198.18.0.0/24', '198.18.2.0/23', '198.18.4.0/22', '198.18.8.0/21', '198.18.16.0/20', '198.18.32.0/19', '198.18.64.0/18', '198.18.128.0/17']);
    assert.deepEqual(subtractCidrs(parseCIDR('198.18.0.0/16'), [parseCIDR('198.18.0.0/15')]), []);
    assert.deepEqual(subtractCidrs(parseCIDR('198.18.0.0/24'), [parseCIDR('198.19.0.0/24'), parseCIDR('2001:db8::/32')]), ['198.18.0.0/24']);
    assert.equal(subtractCidrs(parseCIDR('0.0.0.0/1'), [parseCIDR('10.0.0.0/8')]).length, 7);
  });

  for (const family of [4, 6] as Family[]) {
    it(`IPv${family}: an address is in the result exactly when it is in the CIDR and in no except; the pieces are disjoint`, () => {
      const total = family === 4 ? 32 : 128;
      const big = fc.bigInt({ min: 0n, max: (1n << BigInt(total)) - 1n });
      const base = family === 4 ? parseCIDR('198.18.0.0/15') : parseCIDR('2001:db8::/32');
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 12 }), big, fc.array(fc.tuple(fc.integer({ min: 0, max: 16 }), big), { maxLength: 6 }), fc.array(big, { minLength: 20, maxLength: 20 }), (e0, b0, ex, probes) => {
          const from = inside(base, e0, b0);
          const excepts = ex.map(([e, b]) => inside(from, e, b));
          const out = subtractCidrs(from, excepts);
          for (const bits of probes) {
            for (const probe of [bigIntToIP(bits, family), cidrParts(inside(from, total, bits)).ip, ...excepts.map((x) => cidrParts(x).ip)]) {
              const want = cidrContains(from, probe) && !excepts.some((x) => cidrContains(x, probe));
              const hits = out.filter((c) => cidrContains(c, probe)).length;
              assert.equal(hits, want ? 1 : 0, `${probe} in ${from} minus ${excepts.join(',')}: ${out.join(',')}`);
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  }
});
