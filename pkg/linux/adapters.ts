import type { Family } from '../util/ip.js';
import type { Logger } from '../util/logger.js';
import type { Exec } from './exec.js';
import { detectIptablesVariant, RealIptables } from './iptables/real.js';
import type { Iptables, IptablesVariant } from './iptables/types.js';
import { RealIpset } from './ipset/real.js';
import type { Ipset } from './ipset/types.js';
import { RealNftables } from './nftables/real.js';
import type { Nftables } from './nftables/types.js';
import { realNetlinkSockets } from './genl/socket.js';
import { RealNetlink, type RtnlOptions } from './netlink/real.js';
import type { Netlink } from './netlink/types.js';
import { RealSysctl, type Sysctl } from './sysctl.js';
import { RealKernelModules, type KernelModules } from './modules.js';
import { RealConfigFiles, type ConfigFiles } from './files.js';

/** One adapter per kernel subsystem, shared by the controllers. */
export interface KernelAdapters {
  readonly exec: Exec;
  readonly iptables: Readonly<Record<Family, Iptables>>;
  readonly ipset: Ipset;
  readonly nft: Nftables;
  readonly netlink: Netlink;
  readonly sysctl: Sysctl;
  readonly modules: KernelModules;
  readonly files: ConfigFiles;
}

export async function realKernel(exec: Exec, logger: Logger): Promise<KernelAdapters> {
  const variant = await detectIptablesVariant(exec);
  logger.info('iptables backend detected', { variant });
  // The daemon's own namespace: routes go over our rtnetlink socket.
  return realKernelWith(exec, variant, { sockets: realNetlinkSockets(), writesFrom: 'worker' });
}

/**
 * The real adapters over one `exec` (e.g. into a network namespace) and a known iptables variant;
 * with `rtnl`, routes are written over our own rtnetlink socket (opened in `rtnl.netns`, which must be
 * where `exec` runs), else through `ip -batch`.
 */
export function realKernelWith(exec: Exec, variant: IptablesVariant, rtnl?: RtnlOptions): KernelAdapters {
  return {
    exec,
    iptables: { 4: new RealIptables(exec, 4, variant), 6: new RealIptables(exec, 6, variant) },
    ipset: new RealIpset(exec),
    nft: new RealNftables(exec),
    netlink: new RealNetlink(exec, rtnl),
    sysctl: new RealSysctl(exec),
    modules: new RealKernelModules(exec),
    files: new RealConfigFiles(),
  };
}
