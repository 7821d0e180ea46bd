import { RealPodTunnels } from '../linux/podtunnel/real.js';
import { openCri } from '../cri/client.js';
import { realConntrack } from '../linux/conntrack.js';
import { realNetlinkSockets } from '../linux/genl/socket.js';
import { openIpvs } from '../linux/ipvs/real.js';
import { FirewallController } from '../netpol/controller.js';
import { NftSession } from '../linux/nftables/session.js';
import { proxyControllerFactory } from '../proxy/controller.js';
import { RoutingController } from '../routing/controller.js';
import { LoadBalancerController } from '../loadbalancer/controller.js';
import type { ControllerFactory } from './daemon.js';

/** Controller factories that exist in this build, on the real kernel adapters. */
export function availableControllers(): Partial<Record<'router' | 'proxy' | 'firewall' | 'loadbalancer', ControllerFactory>> {
  return {
    router: (ctx) => new RoutingController(ctx),
    loadbalancer: (ctx) => new LoadBalancerController(ctx, { name: ctx.config.loadBalancer.leaseIdentity, namespace: ctx.config.loadBalancer.leaseNamespace }),
    firewall: (ctx) => new FirewallController(ctx, { nft: new NftSession(ctx.kernel.nft) }),
    proxy: proxyControllerFactory((ctx) => ({ nft: new NftSession(ctx.kernel.nft), netlink: ctx.kernel.netlink, conntrack: realConntrack(ctx.kernel.exec), openIpvs: () => openIpvs(realNetlinkSockets()), podTunnels: new RealPodTunnels(ctx.kernel.exec), openCri })),
  };
}
