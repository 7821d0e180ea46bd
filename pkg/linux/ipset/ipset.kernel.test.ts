import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { ipsetContract } from './contract.test-support.js';
import { RealIpset } from './real.js';

ipsetContract('real ipset in a netns', async () => {
  const ns = await throwawayNetns();
  return { ipset: new RealIpset(ns.exec), close: () => ns.remove() };
});
