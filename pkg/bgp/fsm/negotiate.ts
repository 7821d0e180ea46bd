import { AS_TRANS, Notif, OpenSub } from '../codec/constants.js';
import type { OpenMessage } from '../codec/types.js';
import type { Negotiated, PeerConfig } from './types.js';

export type Negotiation = { readonly ok: true; readonly negotiated: Negotiated } | { readonly ok: false; readonly code: number; readonly subcode: number; readonly reason: string };

/** The OPEN we send (RFC 4271 4.2; RFC 6793: AS_TRANS in My AS when our AS needs four octets). */
export function ourOpen(c: PeerConfig): OpenMessage {
  return { type: 'open', version: 4, myAs: c.localAs > 0xffff ? AS_TRANS : c.localAs, holdTime: c.holdTime, bgpId: c.routerId, capabilities: c.capabilities };
}

/** Checks the peer's OPEN against our configuration and agrees the session's terms. */
export function negotiate(c: PeerConfig, open: OpenMessage): Negotiation {
  const four = open.capabilities.find((x) => x.kind === 'four-octet-as');
  const weFour = c.capabilities.some((x) => x.kind === 'four-octet-as');
  const peerAs = four?.kind === 'four-octet-as' ? four.asn : open.myAs;
  if (peerAs !== c.peerAs) return { ok: false, code: Notif.Open, subcode: OpenSub.BadPeerAs, reason: `peer AS ${peerAs}, expected ${c.peerAs}` };
  if (open.bgpId === c.routerId && c.peerAs === c.localAs) return { ok: false, code: Notif.Open, subcode: OpenSub.BadBgpId, reason: `peer BGP identifier ${open.bgpId} is ours` };
  const holdTime = Math.min(c.holdTime, open.holdTime);
  const mp = (caps: OpenMessage['capabilities']): string[] => caps.flatMap((x) => (x.kind === 'multiprotocol' ? [`${x.afi}/${x.safi}`] : []));
  const ours = mp(c.capabilities);
  const theirs = mp(open.capabilities);
  // Without any multiprotocol capability a speaker does IPv4 unicast only (RFC 4760).
  const effective = (l: string[]): string[] => (l.length === 0 ? ['1/1'] : l);
  const families = effective(ours)
    .filter((f) => effective(theirs).includes(f))
    .map((f) => ({ afi: Number(f.split('/')[0]), safi: Number(f.split('/')[1]) }));
  const has = (kind: string): boolean => c.capabilities.some((x) => x.kind === kind) && open.capabilities.some((x) => x.kind === kind);
  return {
    ok: true,
    negotiated: {
      holdTime,
      keepalive: Math.floor(holdTime / 3),
      fourOctetAs: weFour && four !== undefined,
      peerAs,
      peerId: open.bgpId,
      families,
      gracefulRestart: has('graceful-restart'),
      routeRefresh: has('route-refresh'),
      enhancedRefresh: has('enhanced-route-refresh'),
    },
  };
}
