import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { netlinkContract } from './contract.test-support.js';
import { realNetlinkSockets } from '../genl/socket.js';
import { RealNetlink, type RtnlOptions } from './real.js';

const cases: readonly { readonly name: string; readonly rtnl?: (netns: string) => RtnlOptions }[] = [
  { name: 'real iproute2 in a netns' },
  { name: 'real: routes over our own rtnetlink socket, the rest through iproute2, in a netns', rtnl: (netns) => ({ sockets: realNetlinkSockets(), netns }) },
  // As the daemon runs it: writes sent from a worker thread.
  { name: 'real: rtnetlink writes from a worker thread, in a netns', rtnl: (netns) => ({ sockets: realNetlinkSockets(), netns, writesFrom: 'worker' }) },
];

for (const c of cases) {
  netlinkContract(c.name, async () => {
    const ns = await throwawayNetns();
    return {
      nl: new RealNetlink(ns.exec, c.rtnl?.(ns.name), ns.name),
      addUplink: async () => {
        // a veth pair with its peer up too, so krt0 has carrier and connected routes
        await ns.exec.run(['ip', 'link', 'add', 'krt0', 'type', 'veth', 'peer', 'name', 'krt0p']);
        await ns.exec.run(['ip', 'link', 'set', 'krt0', 'up']);
        await ns.exec.run(['ip', 'link', 'set', 'krt0p', 'up']);
      },
      deleteRouteAsOther: async (dst: string) => {
        await ns.exec.run(['ip', dst.includes(':') ? '-6' : '-4', 'route', 'del', dst]);
      },
      close: () => ns.remove(),
    };
  });
}
