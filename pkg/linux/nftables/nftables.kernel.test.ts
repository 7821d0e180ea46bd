import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { nftablesContract } from './contract.js';
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
