import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/errors.js';
import { cleanupIpsets, cleanupIptables, cleanupIpvs, cleanupNetlink, cleanupNftables } from '../linux/cleanup.js';
import type { Ipvs } from '../linux/ipvs/types.js';
import type { KernelAdapters } from '../linux/adapters.js';

/**
 * `--cleanup-config`: removes every kernel object kube-router owns (pkg/linux/owned.ts) and nothing
 * else, whichever controllers were enabled. Order: our IPVS services (the sets record which are ours),
 * firewall and proxy rules (they reference the sets), then sets, nft tables, routes and links. Returns false if any step failed.
 */
export async function cleanupAll(kernel: KernelAdapters, logger: Logger, openIpvs: () => Promise<Ipvs | undefined> = () => Promise.resolve(undefined)): Promise<boolean> {
  let ok = true;
  const step = async (what: string, fn: () => Promise<number>): Promise<void> => {
    try {
      const n = await fn();
      logger.info('cleanup', { what, removed: n });
    } catch (e) {
      ok = false;
      logger.error('cleanup step failed', { what, error: errorMessage(e) });
    }
  };
  await step('IPVS services', async () => {
    const ipvs = await openIpvs();
    if (!ipvs) return 0;
    try {
      return await cleanupIpvs(ipvs, kernel.ipset);
    } finally {
      ipvs.close();
    }
  });
  await step('iptables v4', () => cleanupIptables(kernel.iptables[4]));
  await step('iptables v6', () => cleanupIptables(kernel.iptables[6]));
  await step('ipsets', () => cleanupIpsets(kernel.ipset));
  await step('nftables', () => cleanupNftables(kernel.nft));
  await step('routes and links', () => cleanupNetlink(kernel.netlink));
  return ok;
}
