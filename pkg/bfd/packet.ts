/**
 * BFD Control packets (RFC 5880 section 4.1), without authentication: the mandatory 24 bytes.
 * `decodeControl` applies the reception checks of section 6.8.6 that need no session.
 */

/** Session states as carried in the Sta field (RFC 5880 4.1). */
export const BfdStateCode = { AdminDown: 0, Down: 1, Init: 2, Up: 3 } as const;
export type BfdState = keyof typeof BfdStateCode;
const STATES: readonly BfdState[] = ['AdminDown', 'Down', 'Init', 'Up'];

/** Diagnostic codes (RFC 5880 4.1) we set. */
export const BfdDiag = { None: 0, DetectionTimeExpired: 1, NeighborSignaledDown: 3, AdminDown: 7 } as const;

export interface ControlPacket {
  readonly diag: number;
  readonly state: BfdState;
  readonly poll: boolean;
  readonly final: boolean;
  readonly demand: boolean;
  readonly detectMult: number;
  readonly myDiscr: number;
  readonly yourDiscr: number;
  /** Microseconds, as on the wire. */
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
  readonly requiredMinEchoRxUs: number;
}

export const CONTROL_LEN = 24;
const VERSION = 1;

export function encodeControl(p: ControlPacket): Buffer {
  const b = Buffer.alloc(CONTROL_LEN);
  b[0] = (VERSION << 5) | (p.diag & 0x1f);
  b[1] = (BfdStateCode[p.state] << 6) | (p.poll ? 0x20 : 0) | (p.final ? 0x10 : 0) | (p.demand ? 0x02 : 0);
  b[2] = p.detectMult & 0xff;
  b[3] = CONTROL_LEN;
  b.writeUInt32BE(p.myDiscr >>> 0, 4);
  b.writeUInt32BE(p.yourDiscr >>> 0, 8);
  b.writeUInt32BE(p.desiredMinTxUs >>> 0, 12);
  b.writeUInt32BE(p.requiredMinRxUs >>> 0, 16);
  b.writeUInt32BE(p.requiredMinEchoRxUs >>> 0, 20);
  return b;
}

export type DecodeResult = { readonly ok: true; readonly packet: ControlPacket } | { readonly ok: false; readonly reason: string };

/** Decodes and checks a received datagram; a packet failing any check is to be discarded (never answered). */
export function decodeControl(d: Uint8Array): DecodeResult {
  if (d.length < CONTROL_LEN) return { ok: false, reason: `${d.length} bytes, shorter than a control packet` };
  const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  const version = (b[0] ?? 0) >> 5;
  if (version !== VERSION) return { ok: false, reason: `version ${version}` };
  const flags = b[1] ?? 0;
  const length = b[3] ?? 0;
  const auth = (flags & 0x04) !== 0;
  if (auth) return { ok: false, reason: 'authentication is not configured' };
  if (length < CONTROL_LEN || length > d.length) return { ok: false, reason: `length field ${length} with ${d.length} bytes received` };
  const detectMult = b[2] ?? 0;
  if (detectMult === 0) return { ok: false, reason: 'detect multiplier 0' };
  if ((flags & 0x01) !== 0) return { ok: false, reason: 'multipoint bit set' };
  const myDiscr = b.readUInt32BE(4);
  if (myDiscr === 0) return { ok: false, reason: 'my discriminator 0' };
  const state = STATES[flags >> 6] ?? 'AdminDown';
  const yourDiscr = b.readUInt32BE(8);
  if (yourDiscr === 0 && state !== 'Down' && state !== 'AdminDown') return { ok: false, reason: `your discriminator 0 in state ${state}` };
  return {
    ok: true,
    packet: {
      diag: (b[0] ?? 0) & 0x1f,
      state,
      poll: (flags & 0x20) !== 0,
      final: (flags & 0x10) !== 0,
      demand: (flags & 0x02) !== 0,
      detectMult,
      myDiscr,
      yourDiscr,
      desiredMinTxUs: b.readUInt32BE(12),
      requiredMinRxUs: b.readUInt32BE(16),
      requiredMinEchoRxUs: b.readUInt32BE(20),
    },
  };
}
