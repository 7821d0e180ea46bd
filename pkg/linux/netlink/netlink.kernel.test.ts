import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { netlinkContract } from './contract.test-support.js';
import { realNetlinkSockets } from '../genl/socket.js';
import { RealNetlink } from './real.js';

netlinkContract('real iproute2 in a netns', async () => {
  const ns = await throwawayNetns();
  return {
    nl: new RealNetlink(ns.exec),
    addUplink: async () => {
      // a veth pair with its peer up too, so krt0 has carrier and connected routes
      await ns.exec.run(['ip', 'link', 'add', 'krt0', 'type', 'veth', 'peer', 'name', 'krt0p']);
      await ns.exec.run(['ip', 'link', 'set', 'krt0', 'up']);
      await ns.exec.run(['ip', 'link', 'set', 'krt0p', 'up']);
    },
    close: () => ns.remove(),
  };
});

netlinkContract('real: routes over our own rtnetlink socket, the rest through iproute2, in a netns', async () => {
  const ns = await throwawayNetns();
  return {
    nl: new RealNetlink(ns.exec, { sockets: realNetlinkSockets(), netns: ns.name }),
    addUplink: async () => {
      await ns.exec.run(['ip', 'link', 'add', 'krt0', 'type', 'veth', 'peer', 'name', 'krt0p']);
      await ns.exec.run(['ip', 'link', 'set', 'krt0', 'up']);
      await ns.exec.run(['ip', 'link', 'set', 'krt0p', 'up']);
    },
    close: () => ns.remove(),
  };
});
