import { ipFromBytes, ipToBytes } from '../../util/ip.js';
import { BGP_VERSION, CapabilityCode, Notif, OpenSub } from './constants.js';
import { BgpDecodeError } from './errors.js';
import type { Reader} from './reader.js';
import { Writer } from './reader.js';
import type { Capability, OpenMessage } from './types.js';

const OPT_PARAM_CAPABILITIES = 2;
const SHORT: [number, number] = [Notif.Open, 0];

function decodeCapability(code: number, v: Reader): Capability {
  switch (code) {
    case CapabilityCode.Multiprotocol: {
      if (v.remaining() !== 4) break;
      const afi = v.u16();
      v.u8();
      return { kind: 'multiprotocol', afi, safi: v.u8() };
    }
    case CapabilityCode.RouteRefresh:
      if (v.remaining() === 0) return { kind: 'route-refresh' };
      break;
    case CapabilityCode.EnhancedRouteRefresh:
      if (v.remaining() === 0) return { kind: 'enhanced-route-refresh' };
      break;
    case CapabilityCode.FourOctetAs:
      if (v.remaining() === 4) return { kind: 'four-octet-as', asn: v.u32() };
      break;
    case CapabilityCode.GracefulRestart: {
      if (v.remaining() < 2 || (v.remaining() - 2) % 4 !== 0) break;
      const head = v.u16();
      const families: { afi: number; safi: number; forwardingPreserved: boolean }[] = [];
      while (v.remaining() > 0) families.push({ afi: v.u16(), safi: v.u8(), forwardingPreserved: (v.u8() & 0x80) !== 0 });
      return { kind: 'graceful-restart', restarting: (head & 0x8000) !== 0, notification: (head & 0x4000) !== 0, time: head & 0x0fff, families };
    }
  }
  // Unknown or malformed-for-its-code capabilities are kept as bytes; the session decides.
  return { kind: 'unknown', code, value: v.bytes(v.remaining()).slice() };
}

/** RFC 4271 4.2, RFC 5492 (capabilities), RFC 6793, RFC 4724. */
export function decodeOpen(r: Reader): OpenMessage {
  const version = r.u8('the version');
  if (version !== BGP_VERSION) throw new BgpDecodeError(Notif.Open, OpenSub.UnsupportedVersion, `BGP version ${version} is not 4`, 'session-reset', new Uint8Array([0, BGP_VERSION]));
  const myAs = r.u16('My AS');
  const holdTime = r.u16('the hold time');
  if (holdTime === 1 || holdTime === 2) throw new BgpDecodeError(Notif.Open, OpenSub.UnacceptableHoldTime, `hold time ${holdTime} s is neither 0 nor at least 3`);
  const bgpId = ipFromBytes(r.bytes(4, 'the BGP identifier'));
  if (bgpId === '0.0.0.0') throw new BgpDecodeError(Notif.Open, OpenSub.BadBgpId, 'BGP identifier 0.0.0.0');
  const optLen = r.u8('the optional parameters length');
  if (optLen !== r.remaining()) throw new BgpDecodeError(Notif.Header, 2, `optional parameters length ${optLen} does not match the ${r.remaining()} bytes left`);
  const params = r.sub(optLen, 'optional parameters', SHORT);
  const capabilities: Capability[] = [];
  while (params.remaining() > 0) {
    const type = params.u8('a parameter type');
    const len = params.u8('a parameter length');
    const p = params.sub(len, 'a parameter', [Notif.Open, 0]);
    if (type !== OPT_PARAM_CAPABILITIES) throw new BgpDecodeError(Notif.Open, OpenSub.UnsupportedOptionalParameter, `optional parameter type ${type} is not supported`);
    while (p.remaining() > 0) {
      const code = p.u8('a capability code');
      const clen = p.u8('a capability length');
      capabilities.push(decodeCapability(code, p.sub(clen, 'a capability', [Notif.Open, 0])));
    }
  }
  return { type: 'open', version, myAs, holdTime, bgpId, capabilities };
}

function encodeCapability(c: Capability): Uint8Array {
  const w = new Writer();
  switch (c.kind) {
    case 'multiprotocol':
      w.u8(CapabilityCode.Multiprotocol).u8(4).u16(c.afi).u8(0).u8(c.safi);
      break;
    case 'route-refresh':
      w.u8(CapabilityCode.RouteRefresh).u8(0);
      break;
    case 'enhanced-route-refresh':
      w.u8(CapabilityCode.EnhancedRouteRefresh).u8(0);
      break;
    case 'four-octet-as':
      w.u8(CapabilityCode.FourOctetAs).u8(4).u32(c.asn);
      break;
    case 'graceful-restart':
      w.u8(CapabilityCode.GracefulRestart).u8(2 + 4 * c.families.length).u16((c.restarting ? 0x8000 : 0) | (c.notification ? 0x4000 : 0) | (c.time & 0x0fff));
      for (const f of c.families) w.u16(f.afi).u8(f.safi).u8(f.forwardingPreserved ? 0x80 : 0);
      break;
    case 'unknown':
      w.u8(c.code).u8(c.value.length).bytes(c.value);
      break;
  }
  return w.done();
}

export function encodeOpen(w: Writer, m: OpenMessage): void {
  w.u8(m.version).u16(m.myAs).u16(m.holdTime);
  w.bytes(ipToBytes(m.bgpId));
  // One capabilities parameter per capability (what most speakers send).
  const params = new Writer();
  for (const c of m.capabilities) {
    const body = encodeCapability(c);
    params.u8(OPT_PARAM_CAPABILITIES).u8(body.length).bytes(body);
  }
  const p = params.done();
  w.u8(p.length).bytes(p);
}
