import type { Family } from '../util/ip.js';
import type { Logger } from '../util/logger.js';
import type { Exec } from '../linux/exec.js';
import { detectIptablesVariant, RealIptables } from '../linux/iptables/real.js';
import type { Iptables } from '../linux/iptables/types.js';
import { RealIpset } from '../linux/ipset/real.js';
import type { Ipset } from '../linux/ipset/types.js';
import { RealNftables } from '../linux/nftables/real.js';
import type { Nftables } from '../linux/nftables/types.js';
import { RealNetlink } from '../linux/netlink/real.js';
import type { Netlink } from '../linux/netlink/types.js';

/** One adapter per kernel subsystem, shared by the controllers. */
export interface KernelAdapters {
  readonly exec: Exec;
  readonly iptables: Readonly<Record<Family, Iptables>>;
  readonly ipset: Ipset;
  readonly nft: Nftables;
  readonly netlink: Netlink;
}

export async function realKernel(exec: Exec, logger: Logger): Promise<KernelAdapters> {
  const variant = await detectIptablesVariant(exec);
  logger.info('iptables backend detected', { variant });
  return {
    exec,
    iptables: { 4: new RealIptables(exec, 4, variant), 6: new RealIptables(exec, 6, variant) },
    ipset: new RealIpset(exec),
    nft: new RealNftables(exec),
    netlink: new RealNetlink(exec),
  };
}
