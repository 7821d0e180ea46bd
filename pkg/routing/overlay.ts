import { createHash } from 'node:crypto';
import type { Link, NetOp } from '../linux/netlink/types.js';
import { familyOf, type Family, type IP } from '../util/ip.js';
import { boundedName } from '../util/names.js';
import { isOwnedTunnel } from '../linux/owned.js';

/** VXLAN's IANA port; `--overlay-encap-port` is FoU's (upstream), so vxlan keeps the standard one. */
export const VXLAN_PORT = 4789;

/** `kr-` + a hash of the remote node address: 15 characters, IFNAMSIZ's limit (16 with the NUL). */
export function tunnelName(remote: IP): string {
  return boundedName('kr-', remote, 15, 12);
}

/** One VNI per pair of nodes, the same seen from both ends (sorted), never 0. */
export function pairVni(a: IP, b: IP): number {
  const d = createHash('sha256').update([a, b].sort().join('|')).digest();
  return 1 + (d.readUInt32BE(0) % 0xfffffe);
}

/**
 * The MAC of our end of the tunnel to `remote`: locally administered and unicast, derived from both
 * addresses, so the far end can install it as a permanent neighbour without asking (no ARP or FDB
 * learning across the tunnel; the receiving device sees frames addressed to itself and forwards them).
 */
export function tunnelMac(local: IP, remote: IP): string {
  const d = createHash('sha256').update(`${local}>${remote}`).digest();
  const b = [0x02, d[0] ?? 0, d[1] ?? 0, d[2] ?? 0, d[3] ?? 0, d[4] ?? 0];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * The netlink ops that make our tunnels exactly `remotes` (VXLAN point to point, one per remote node,
 * from our address of its family): creates missing ones with their permanent neighbour, deletes our
 * tunnels to nodes that are gone (and to families we have no address in). Others' links are untouched.
 */
export function tunnelOps(locals: Partial<Record<Family, { readonly ip: IP; readonly dev?: string }>>, remotes: readonly IP[], existing: readonly Link[], encap: TunnelEncap = { kind: 'vxlan' }): NetOp[] {
  const ops: NetOp[] = [];
  const want = new Map(remotes.filter((r) => locals[familyOf(r)]).map((r) => [tunnelName(r), r]));
  const linkKind = (remote: IP): string => (encap.kind === 'vxlan' ? 'vxlan' : familyOf(remote) === 4 ? 'ipip' : 'ip6tnl');
  for (const l of existing) {
    if (!isOwnedTunnel(l)) continue;
    const remote = want.get(l.name);
    // Gone, or made for another encapsulation (--overlay-encap changed): deleted (and made anew below).
    if (!remote || (l.kind !== undefined && l.kind !== linkKind(remote))) ops.push({ op: 'link-delete', name: l.name });
  }
  if (encap.kind === 'fou') {
    for (const f of [4, 6] as const) if ([...want.values()].some((r) => familyOf(r) === f)) ops.push({ op: 'fou-add', family: f, port: encap.port });
  }
  for (const [name, remote] of want) {
    const local = locals[familyOf(remote)] as { readonly ip: IP; readonly dev?: string };
    const found = existing.find((l) => l.name === name);
    const have = found && (found.kind === undefined || found.kind === linkKind(remote)) ? found : undefined;
    if (!have) {
      if (encap.kind === 'vxlan') ops.push({ op: 'link-add-vxlan', name, vni: pairVni(local.ip, remote), local: local.ip, remote, port: VXLAN_PORT, mac: tunnelMac(local.ip, remote), ...(local.dev ? { dev: local.dev } : {}) });
      else ops.push({ op: 'link-add-ipip', name, local: local.ip, remote, ...(encap.kind === 'fou' ? { fouPort: encap.port } : {}) });
    }
    if (!have?.up) ops.push({ op: 'link-set', name, up: true });
    if (encap.kind === 'vxlan') ops.push({ op: 'neigh-replace', dev: name, ip: remote, mac: tunnelMac(remote, local.ip) });
  }
  return ops;
}

/** How pod traffic between subnets is carried (--overlay-encap, --overlay-encap-port); fou is GUE, as upstream, so mixed clusters interoperate. */
export type TunnelEncap = { readonly kind: 'vxlan' } | { readonly kind: 'ipip' } | { readonly kind: 'fou'; readonly port: number };
