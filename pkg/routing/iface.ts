import type { Address, Link } from '../linux/netlink/types.js';
import type { RouterConfig } from '../options/config.js';
import type { Family, IP } from '../util/ip.js';
import { familyOf } from '../util/ip.js';

/**
 * The address this node uses as its BGP next hop and tunnel endpoint, per family (flannel's --iface /
 * --iface-regex): by default the Node's InternalIP; with a choice, the first address of that family on
 * the named interface, or on the first interface (by index) whose name matches. Undefined when the
 * choice matches nothing (the caller says so and keeps the default). Pure.
 */
export function chooseAddress(choice: RouterConfig['iface'], family: Family, fallback: IP | undefined, links: readonly Link[], addresses: readonly Address[]): IP | undefined {
  if (choice.kind === 'default') return fallback;
  const matches = choice.kind === 'regex' ? ((re: RegExp) => (n: string) => re.test(n))(new RegExp(choice.pattern)) : (n: string) => n === choice.name;
  const candidates = [...links].sort((a, b) => a.index - b.index).filter((l) => matches(l.name));
  for (const l of candidates) {
    const a = addresses.find((x) => x.dev === l.name && familyOf(x.ip) === family && !x.ip.startsWith('fe80'));
    if (a) return a.ip;
  }
  return undefined;
}
