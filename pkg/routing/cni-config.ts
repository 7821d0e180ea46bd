import { tryParseCIDR, type CIDR } from '../util/ip.js';
import { asArray, asRecord, asString } from '../util/json.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** Upstream's cni/10-kuberouter.conf, used when the file does not exist yet. */
export const DEFAULT_CNI_CONF = { cniVersion: '0.3.0', name: 'mynet', type: 'bridge', bridge: 'kube-bridge', isDefaultGateway: true, hairpinMode: true, ipam: { type: 'host-local' } };

export type CniUpdate = { readonly kind: 'ok'; readonly text: string; readonly changed: boolean } | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Pure: the node's CNI config with its pod CIDRs as host-local ranges (one range set per CIDR, so
 * dual-stack gets one of each) and the MTU. Works on a `.conf` (a bridge plugin) or a `.conflist`
 * (the bridge plugin among others, e.g. portmap). Fields we do not know are kept; a legacy
 * `ipam.subnet` is folded into `ranges`. `changed` is false when the text would not change.
 */
export function updateCniConf(text: string, podCIDRs: readonly CIDR[], mtu: number | undefined): CniUpdate {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { kind: 'invalid', reason: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const root = asRecord(doc);
  if (!root) return { kind: 'invalid', reason: 'not a JSON object' };
  const out = structuredClone(root) as Record<string, JsonValue>;
  const plugins = Array.isArray(out['plugins']) ? (out['plugins']) : undefined;
  const bridge = (plugins ? plugins.map((p) => asRecord(p)) : [out]).find((p) => asString(p?.['type']) === 'bridge') as Record<string, JsonValue> | undefined;
  if (!bridge) return { kind: 'invalid', reason: 'no bridge plugin in the CNI config' };
  const ipam = (asRecord(bridge['ipam']) ? bridge['ipam'] : (bridge['ipam'] = { type: 'host-local' })) as Record<string, JsonValue>;
  if (asString(ipam['type']) !== 'host-local') return { kind: 'invalid', reason: `ipam type ${asString(ipam['type']) ?? 'missing'} is not host-local` };
  const ranges: JsonValue[][] = asArray(ipam['ranges']).map((r) => (Array.isArray(r) ? (r as JsonValue[]) : []));
  const have = new Set(ranges.flatMap((r) => r.map((x) => tryParseCIDR(asString(asRecord(x)?.['subnet']) ?? ''))).filter((c) => c !== undefined));
  const legacy = tryParseCIDR(asString(ipam['subnet']) ?? '');
  if (legacy && !have.has(legacy)) {
    ranges.push([{ subnet: legacy }]);
    have.add(legacy);
  }
  delete ipam['subnet'];
  for (const c of podCIDRs) if (!have.has(c)) ranges.push([{ subnet: c }]);
  if (ranges.length > 0) ipam['ranges'] = ranges;
  if (mtu !== undefined) bridge['mtu'] = mtu;
  const next = JSON.stringify(out, null, 2) + '\n';
  return { kind: 'ok', text: next, changed: next !== text };
}

/** Bytes an overlay adds to each packet, counted once (upstream once subtracted it twice, #1033). */
export function overlayOverhead(encap: 'ipip' | 'fou' | 'vxlan', ipv6Underlay: boolean): number {
  const outer = ipv6Underlay ? 40 : 20;
  switch (encap) {
    case 'ipip':
      return outer;
    case 'fou':
      return outer + 8 + 4; // UDP + GUE header
    case 'vxlan':
      return outer + 8 + 8 + 14; // UDP + VXLAN + inner Ethernet
  }
}
