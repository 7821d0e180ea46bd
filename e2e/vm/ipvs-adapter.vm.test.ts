import { throwawayNetns } from '../../test/throwaway-netns.js';
import { realNetlinkSockets } from '../../pkg/linux/genl/socket.js';
import { ipvsContract } from '../../pkg/linux/ipvs/contract.test-support.js';
import { openIpvs } from '../../pkg/linux/ipvs/real.js';

// Real IPVS over our generic-netlink codec, in a throwaway namespace of the VM's kernel.
ipvsContract('real kernel (generic netlink, in a netns)', async () => {
  const ns = await throwawayNetns();
  const ipvs = await openIpvs(realNetlinkSockets(), { netns: ns.name });
  if (!ipvs) {
    await ns.remove();
    throw new Error('this kernel has no IPVS');
  }
  return {
    ipvs,
    close: async () => {
      ipvs.close();
      await ns.remove();
    },
  };
});
