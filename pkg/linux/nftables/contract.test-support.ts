import assert from 'node:assert/strict';
import { ErrorCode, isKubeRouterError } from '../../util/errors.js';
import type { Nftables } from './types.js';

export interface NftSubject {
  readonly nft: Nftables;
  close(): Promise<void>;
}

const BASE = [
  'add table ip krt-test',
  'add chain ip krt-test svc-a',
  'add chain ip krt-test svc-b',
  'add chain ip krt-test pre { type nat hook prerouting priority dstnat ; policy accept ; }',
  'add set ip krt-test vips { type ipv4_addr . inet_proto . inet_service ; }',
  'add map ip krt-test dispatch { type ipv4_addr . inet_proto . inet_service : verdict ; }',
  'add element ip krt-test vips { 198.18.0.1 . tcp . 80, 198.18.0.2 . udp . 53 }',
  'add element ip krt-test dispatch { 198.18.0.1 . tcp . 80 : goto svc-a, 198.18.0.2 . udp . 53 : goto svc-b }',
  'add rule ip krt-test pre ip daddr . meta l4proto . th dport vmap @dispatch',
  'add rule ip krt-test svc-a dnat to 198.18.1.1',
  '',
].join('\n');

/** Behaviour every Nftables must show, against the fake and real `nft` in a netns. */
export function nftablesContract(label: string, make: () => Promise<NftSubject>): void {
  describe(`nftables contract: ${label}`, function () {
    this.timeout(30_000);
    let s: NftSubject;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(async () => {
      await s.close();
    });

    it('applies tables, base and regular chains, sets, verdict maps, elements and rules in one transaction', async () => {
      await s.nft.apply(BASE);
      const d = await s.nft.dump('ip', 'krt-test');
      assert.ok(d);
      assert.deepEqual([...d.chains.keys()].sort(), ['pre', 'svc-a', 'svc-b']);
      assert.deepEqual(d.chains.get('pre')?.base, { type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' });
      assert.equal(d.chains.get('pre')?.ruleCount, 1);
      assert.equal(d.chains.get('svc-a')?.ruleCount, 1);
      assert.deepEqual(d.sets.get('vips'), { kind: 'set', type: 'ipv4_addr . inet_proto . inet_service', elements: ['198.18.0.1 . tcp . 80', '198.18.0.2 . udp . 53'] });
      assert.deepEqual(d.sets.get('dispatch')?.elements, ['198.18.0.1 . tcp . 80 : goto svc-a', '198.18.0.2 . udp . 53 : goto svc-b']);
      assert.equal(d.sets.get('dispatch')?.kind, 'map');
    });

    it('a failing transaction applies nothing and names its line', async () => {
      await s.nft.apply(BASE);
      const before = await s.nft.dump('ip', 'krt-test');
      await assert.rejects(
        s.nft.apply('add element ip krt-test vips { 198.18.0.3 . tcp . 443 }\nadd element ip krt-test dispatch { 198.18.0.3 . tcp . 443 : goto svc-missing }\n'),
        (e: unknown) => isKubeRouterError(e, ErrorCode.RestoreFailed) && e.details['line'] === 2,
      );
      assert.deepEqual(await s.nft.dump('ip', 'krt-test'), before);
    });

    it('incremental element changes; deleting a missing element fails', async () => {
      await s.nft.apply(BASE);
      await s.nft.apply('delete element ip krt-test dispatch { 198.18.0.2 . udp . 53 }\ndelete element ip krt-test vips { 198.18.0.2 . udp . 53 }\nadd element ip krt-test vips { 198.18.0.9 . tcp . 8080 }\n');
      const d = await s.nft.dump('ip', 'krt-test');
      assert.deepEqual(d?.sets.get('vips')?.elements, ['198.18.0.1 . tcp . 80', '198.18.0.9 . tcp . 8080']);
      assert.deepEqual(d?.sets.get('dispatch')?.elements, ['198.18.0.1 . tcp . 80 : goto svc-a']);
      await assert.rejects(s.nft.apply('delete element ip krt-test vips { 198.18.0.7 . tcp . 1 }\n'));
    });

    it('re-adding a map key: same value is fine, another value fails unless deleted first in the same transaction', async () => {
      await s.nft.apply(BASE);
      await s.nft.apply('add element ip krt-test dispatch { 198.18.0.1 . tcp . 80 : goto svc-a }\n');
      await assert.rejects(s.nft.apply('add element ip krt-test dispatch { 198.18.0.1 . tcp . 80 : goto svc-b }\n'));
      await s.nft.apply('delete element ip krt-test dispatch { 198.18.0.1 . tcp . 80 }\nadd element ip krt-test dispatch { 198.18.0.1 . tcp . 80 : goto svc-b }\n');
      assert.ok((await s.nft.dump('ip', 'krt-test'))?.sets.get('dispatch')?.elements.includes('198.18.0.1 . tcp . 80 : goto svc-b'));
    });

    it('a chain a map still points at cannot be deleted', async () => {
      await s.nft.apply(BASE);
      await assert.rejects(s.nft.apply('delete chain ip krt-test svc-b\n'));
      await s.nft.apply('delete element ip krt-test dispatch { 198.18.0.2 . udp . 53 }\ndelete chain ip krt-test svc-b\n');
      assert.equal((await s.nft.dump('ip', 'krt-test'))?.chains.has('svc-b'), false);
    });

    it('deleting our table leaves a foreign table alone; a missing table dumps as undefined', async () => {
      await s.nft.apply('add table inet foreign\nadd chain inet foreign c\nadd rule inet foreign c accept\n');
      await s.nft.apply(BASE);
      await s.nft.apply('delete table ip krt-test\n');
      assert.equal(await s.nft.dump('ip', 'krt-test'), undefined);
      assert.equal((await s.nft.dump('inet', 'foreign'))?.chains.get('c')?.ruleCount, 1);
      assert.deepEqual(await s.nft.listTables(), [{ family: 'inet', name: 'foreign' }]);
    });

    it('lists one set or map; undefined when missing', async () => {
      await s.nft.apply(BASE);
      assert.deepEqual(await s.nft.listSet('ip', 'krt-test', 'vips'), ['198.18.0.1 . tcp . 80', '198.18.0.2 . udp . 53']);
      assert.deepEqual(await s.nft.listSet('ip', 'krt-test', 'dispatch'), ['198.18.0.1 . tcp . 80 : goto svc-a', '198.18.0.2 . udp . 53 : goto svc-b']);
      assert.equal(await s.nft.listSet('ip', 'krt-test', 'nope'), undefined);
      assert.equal(await s.nft.listSet('ip', 'no-table', 'vips'), undefined);
    });

    it('IPv6 sets with concatenations', async () => {
      await s.nft.apply('add table ip6 krt-test6\nadd set ip6 krt-test6 v { type ipv6_addr . inet_proto . inet_service ; }\nadd element ip6 krt-test6 v { 2001:db8::1 . tcp . 80 }\n');
      assert.deepEqual((await s.nft.dump('ip6', 'krt-test6'))?.sets.get('v')?.elements, ['2001:db8::1 . tcp . 80']);
    });
  });
}
