import assert from 'node:assert/strict';
import { bigIntToIP, cidrContains, cidrCovers, compareIP, ipFromBytes, ipToBytes, parseCIDR, tryParseCIDR, tryParseIP, type IP } from './ip.js';

describe('util: IP addresses and CIDRs', () => {
  const ips: [string, string | undefined][] = [
    ['198.18.0.1', '198.18.0.1'], [' 198.18.0.1 ', '198.18.0.1'], ['01.2.3.4', undefined], ['256.1.1.1', undefined], ['198.18.0', undefined],
    ['2001:DB8::1', '2001:db8::1'], ['2001:db8:0:0:0:0:0:1', '2001:db8::1'], ['2001:db8::0:1:0:0:1', '2001:db8::1:0:0:1'], ['::ffff:198.18.0.1', '::ffff:c612:1'], ['fe80::1%eth0', undefined], ['', undefined],
  ];
  for (const [t, want] of ips) it(`IP ${JSON.stringify(t)} → ${want}`, () => assert.equal(tryParseIP(t), want));
  it('CIDRs are canonical with host bits cleared; strict refuses host bits', () => {
    assert.equal(tryParseCIDR('198.18.5.7/24'), '198.18.5.0/24');
    assert.equal(tryParseCIDR('198.18.5.7/24', true), undefined);
    assert.equal(tryParseCIDR('2001:db8:1::5/48'), '2001:db8:1::/48');
    assert.equal(tryParseCIDR('198.18.0.0/33'), undefined);
    assert.equal(tryParseCIDR('198.18.0.1'), undefined);
    assert.equal(tryParseCIDR('0.0.0.0/0'), '0.0.0.0/0');
  });
  it('containment and coverage across families', () => {
    assert.ok(cidrContains(parseCIDR('198.18.0.0/15'), '198.19.255.255' as IP));
    assert.ok(!cidrContains(parseCIDR('198.18.0.0/16'), '198.19.0.1' as IP));
    assert.ok(!cidrContains(parseCIDR('198.18.0.0/16'), '2001:db8::1' as IP));
    assert.ok(cidrCovers(parseCIDR('2001:db8::/32'), parseCIDR('2001:db8:64::/64')));
    assert.ok(!cidrCovers(parseCIDR('198.18.64.0/24'), parseCIDR('198.18.0.0/16')));
  });
  it('orders addresses numerically, IPv4 before IPv6', () => {
    const sorted = (['198.18.0.10', '2001:db8::1', '198.18.0.9', '198.18.1.0'] as IP[]).sort(compareIP);
    assert.deepEqual(sorted, ['198.18.0.9', '198.18.0.10', '198.18.1.0', '2001:db8::1']);
    assert.equal(bigIntToIP(0n, 6), '::');
  });
  it('network-order bytes, both ways', () => {
    assert.deepEqual([...ipToBytes('198.18.0.11' as IP)], [198, 18, 0, 11]);
    assert.equal(ipFromBytes(Uint8Array.from([198, 18, 0, 11])), '198.18.0.11');
    const v6 = ipToBytes('2001:db8::a:1' as IP);
    assert.equal(v6.length, 16);
    assert.deepEqual([...v6.subarray(0, 4)], [0x20, 0x01, 0x0d, 0xb8]);
    assert.equal(ipFromBytes(v6), '2001:db8::a:1');
    assert.equal(ipFromBytes(new Uint8Array(16)), '::');
  });
});
