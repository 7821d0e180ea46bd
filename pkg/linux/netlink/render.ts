import { assertNever } from '../../util/assert-never.js';
import { familyOf } from '../../util/ip.js';
import type { NetOp, Route, RouteRule } from './types.js';

function routeArgs(r: Route): string {
  let s = `${r.type && r.type !== 'unicast' ? r.type + ' ' : ''}${r.dst}`;
  // Through a nexthop object: the object says where (iproute2 refuses a gateway or device beside it).
  if (r.nexthop !== undefined) s += ` nhid ${r.nexthop}`;
  else {
    if (r.gateway) s += ` via ${r.gateway}`;
    if (r.dev) s += ` dev ${r.dev}`;
    if (r.onlink) s += ' onlink';
  }
  if (r.src) s += ` src ${r.src}`;
  if (r.scope) s += ` scope ${r.scope}`;
  return `${s} table ${r.table} proto ${r.protocol}`;
}

function ruleArgs(r: RouteRule): string {
  return `${r.from ? `from ${r.from} ` : ''}${r.fwmark !== undefined ? `fwmark ${r.fwmark} ` : ''}lookup ${r.table} priority ${r.priority}`;
}

/**
 * One `ip -batch` line per op. Batch lines cannot carry `-6`: the family comes from the addresses,
 * and IPv6 rules are run in a separate `ip -6 -batch` (see real.ts).
 */
export function renderOp(o: NetOp): string {
  switch (o.op) {
    case 'route-replace':
      return `route replace ${routeArgs(o.route)}`;
    case 'route-delete':
      return `route delete ${routeArgs(o.route)}`;
    case 'nexthop-add': {
      const n = o.nexthop;
      return `nexthop add id ${n.id} via ${n.gateway} dev ${n.dev}${n.onlink ? ' onlink' : ''} proto ${n.protocol}`;
    }
    case 'nexthop-delete':
      return `nexthop delete id ${o.id}`;
    case 'addr-add':
      return `address add ${o.ip}/${o.prefix} dev ${o.dev}`;
    case 'addr-delete':
      return `address delete ${o.ip}/${o.prefix} dev ${o.dev}`;
    case 'link-add-bridge':
      return `link add ${o.name} type bridge`;
    case 'link-add-dummy':
      return `link add ${o.name} type dummy`;
    case 'link-add-vxlan':
      return `link add ${o.name}${o.mac ? ` address ${o.mac}` : ''} type vxlan id ${o.vni} local ${o.local}${o.remote ? ` remote ${o.remote}` : ''} dstport ${o.port} nolearning${o.dev ? ` dev ${o.dev}` : ''}`;
    case 'neigh-replace':
      return `neigh replace ${o.ip} lladdr ${o.mac} dev ${o.dev} nud permanent`;
    case 'link-add-ipip': {
      const encap = o.fouPort !== undefined ? ` encap gue encap-sport auto encap-dport ${o.fouPort}` : '';
      return familyOf(o.local) === 4 ? `link add ${o.name} type ipip local ${o.local} remote ${o.remote}${encap}` : `link add ${o.name} type ip6tnl mode ip6ip6 local ${o.local} remote ${o.remote}${encap}`;
    }
    case 'fou-add':
      return `fou add port ${o.port} gue`;
    case 'link-set':
      return `link set ${o.name}${o.mtu !== undefined ? ` mtu ${o.mtu}` : ''}${o.master !== undefined ? ` master ${o.master}` : ''}${o.up === undefined ? '' : o.up ? ' up' : ' down'}`;
    case 'link-delete':
      return `link delete ${o.name}`;
    case 'rule-add':
      return `rule add ${ruleArgs(o.rule)}`;
    case 'rule-delete':
      return `rule delete ${ruleArgs(o.rule)}`;
    default:
      return assertNever(o, 'net op');
  }
}
