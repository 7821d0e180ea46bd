import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { nftablesContract } from './contract.js';
import { RealNftables } from './real.js';

nftablesContract('real nft in a netns', async () => {
  const ns = await throwawayNetns();
  return { nft: new RealNftables(ns.exec), close: () => ns.remove() };
});
