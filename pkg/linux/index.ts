export * from './exec.js';
export * from './netns.js';
export * as iptables from './iptables/index.js';
export * as ipset from './ipset/index.js';
export * as nftables from './nftables/index.js';
export * as netlink from './netlink/index.js';
export * from './owned.js';
export * from './cleanup.js';
export * from './conntrack.js';
