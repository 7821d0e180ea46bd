import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { iptablesContract } from './contract.test-support.js';
import { RealIptables } from './real.js';
import type { IptablesVariant } from './types.js';

for (const variant of ['legacy', 'nft'] as IptablesVariant[]) {
  for (const family of [4, 6] as const) {
    iptablesContract(`real ${variant} v${family} in a netns`, async () => {
      const ns = await throwawayNetns();
      return { ipt: new RealIptables(ns.exec, family, variant), close: () => ns.remove() };
    });
  }
}
