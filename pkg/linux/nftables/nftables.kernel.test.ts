import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { nftablesContract } from './contract.test-support.js';
import { RealNftables } from './real.js';

nftablesContract('real nft in a netns', async () => {
  const ns = await throwawayNetns();
  return { nft: new RealNftables(ns.exec), close: () => ns.remove() };
});

import { NftSession } from './session.js';


nftablesContract('persistent nft -i session in a netns', async () => {
  const ns = await throwawayNetns();
  const session = new NftSession(new RealNftables(ns.exec), ['ip', 'netns', 'exec', ns.name]);

  return {
    nft: session,
    close: async () => {
      session.close();
      await ns.remove();
    },
  };
});

import assert from 'node:assert/strict';

describe('nft -i session under a stream of failing and succeeding transactions', function () {
  this.timeout(120_000);
  it('attributes every error to its own transaction (300 in a row)', async () => {
    const ns = await throwawayNetns();
    const session = new NftSession(new RealNftables(ns.exec), ['ip', 'netns', 'exec', ns.name]);
    try {
      await session.apply('add table ip krt-s\nadd set ip krt-s s { type inet_service ; }\n');
      await session.prepare('ip', 'krt-s', 's');
      await session.prepare('ip', 'no-such-table', 's'); // a failed warm-up is harmless
      for (let i = 0; i < 300; i++) {
        const bad = i % 3 === 0;
        const p = session.apply(bad ? `add element ip krt-s missing { ${i} }\n` : `add element ip krt-s s { ${i} }\n`);
        if (bad) await assert.rejects(p, `transaction ${i} should fail`);
        else await p;
      }
      assert.equal((await session.listSet('ip', 'krt-s', 's'))?.length, 200);
    } finally {
      session.close();
      await ns.remove();
    }
  });
});
