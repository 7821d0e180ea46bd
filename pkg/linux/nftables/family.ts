import type { Family } from '../../util/ip.js';

/** How nft spells one IP family: the table family, the address expression, the address key type. */
export interface FamilyWords {
  readonly nftFamily: 'ip' | 'ip6';
  readonly addr: 'ip' | 'ip6';
  readonly addrType: 'ipv4_addr' | 'ipv6_addr';
}

export function words(family: Family): FamilyWords {
  return family === 4 ? { nftFamily: 'ip', addr: 'ip', addrType: 'ipv4_addr' } : { nftFamily: 'ip6', addr: 'ip6', addrType: 'ipv6_addr' };
}
