import assert from 'node:assert/strict';
import { ErrorCode, isKubeRouterError } from '../../util/errors.js';
import { renderDestroy, renderSetDelta, renderSetSync } from './render.js';
import type { Ipset, IpsetSpec } from './types.js';

export interface IpsetSubject {
  readonly ipset: Ipset;
  close(): Promise<void>;
}

async function entriesOf(ipset: Ipset, name: string): Promise<string[] | undefined> {
  const s = (await ipset.save()).find((x) => x.name === name);
  return s ? [...s.entries].sort() : undefined;
}

/** Behaviour every Ipset must show, against the fake and the real `ipset` in a netns. */
export function ipsetContract(label: string, make: () => Promise<IpsetSubject>): void {
  describe(`ipset contract: ${label}`, function () {
    this.timeout(30_000);
    let s: IpsetSubject;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(async () => {
      await s.close();
    });

    it('sync by temp set + swap creates, fills, then replaces contents; no temp set is left', async () => {
      const spec: IpsetSpec = { name: 'KRT-TEST-A', type: 'hash:ip', family: 4, entries: ['198.18.0.1', '198.18.0.2'] };
      await s.ipset.restore(renderSetSync([spec]));
      assert.deepEqual(await entriesOf(s.ipset, 'KRT-TEST-A'), ['198.18.0.1', '198.18.0.2']);
      await s.ipset.restore(renderSetSync([{ ...spec, entries: ['198.18.0.3'] }]));
      assert.deepEqual(await entriesOf(s.ipset, 'KRT-TEST-A'), ['198.18.0.3']);
      assert.deepEqual((await s.ipset.save()).map((x) => x.name).filter((n) => n.startsWith('KRT-TMP-')), []);
    });

    it('hash:net with nomatch, hash:ip,port, and IPv6 sets; save reports type and family', async () => {
      await s.ipset.restore(
        renderSetSync([
          { name: 'KRT-TEST-NET', type: 'hash:net', family: 4, entries: ['198.18.0.0/16', '198.18.5.0/24 nomatch', '198.19.0.7/32'] },
          { name: 'KRT-TEST-PORT', type: 'hash:ip,port', family: 4, entries: ['198.18.0.1,tcp:80', '198.18.0.1,udp:53'] },
          { name: 'KRT-TEST-V6', type: 'hash:ip', family: 6, entries: ['2001:db8::1', '2001:db8::a'] },
        ]),
      );
      assert.deepEqual(await entriesOf(s.ipset, 'KRT-TEST-NET'), ['198.18.0.0/16', '198.18.5.0/24 nomatch', '198.19.0.7']);
      assert.deepEqual(await entriesOf(s.ipset, 'KRT-TEST-PORT'), ['198.18.0.1,tcp:80', '198.18.0.1,udp:53']);
      assert.deepEqual(await entriesOf(s.ipset, 'KRT-TEST-V6'), ['2001:db8::1', '2001:db8::a']);
      const v6 = (await s.ipset.save()).find((x) => x.name === 'KRT-TEST-V6');
      assert.equal(v6?.family, 6);
      assert.equal(v6?.type, 'hash:ip');
    });

    it('incremental add/del on an existing set', async () => {
      await s.ipset.restore(renderSetSync([{ name: 'KRT-TEST-D', type: 'hash:ip', family: 4, entries: ['198.18.0.1'] }]));
      await s.ipset.restore(renderSetDelta('KRT-TEST-D', ['198.18.0.9'], ['198.18.0.1']));
      assert.deepEqual(await entriesOf(s.ipset, 'KRT-TEST-D'), ['198.18.0.9']);
    });

    it('leaves foreign sets alone and destroys only what it names', async () => {
      await s.ipset.restore('create foreign-set hash:ip family inet\nadd foreign-set 198.18.9.9\n');
      await s.ipset.restore(renderSetSync([{ name: 'KRT-TEST-B', type: 'hash:ip', family: 4, entries: [] }]));
      await s.ipset.restore(renderDestroy(['KRT-TEST-B']));
      const names = (await s.ipset.save()).map((x) => x.name);
      assert.ok(names.includes('foreign-set'));
      assert.ok(!names.includes('KRT-TEST-B'));
      assert.deepEqual(await entriesOf(s.ipset, 'foreign-set'), ['198.18.9.9']);
    });

    it('a bad entry is a typed error naming the line', async () => {
      await assert.rejects(
        s.ipset.restore('create KRT-TEST-E hash:ip family inet\nadd KRT-TEST-E not-an-ip\n'),
        (e: unknown) => isKubeRouterError(e, ErrorCode.RestoreFailed) && e.details['line'] === 2,
      );
    });
  });
}
