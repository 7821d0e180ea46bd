import { HEADER_LEN, HeaderSub, MAX_MESSAGE_LEN, MessageType, Notif } from './constants.js';
import { BgpDecodeError } from './errors.js';
import { decodeOpen, encodeOpen } from './open.js';
import { Reader, Writer } from './reader.js';
import type { BgpMessage, CodecOptions } from './types.js';
import { decodeUpdate, encodeUpdate } from './update.js';

export type DecodeResult = { readonly ok: true; readonly message: BgpMessage; readonly length: number } | { readonly ok: false; readonly error: BgpDecodeError };

/**
 * Length of the next complete message at the start of `buf`, 0 when more bytes are needed, or a
 * header error (bad marker or length) that resets the session. For framing a TCP stream.
 */
export function frameLength(buf: Uint8Array): number | BgpDecodeError {
  if (buf.length < HEADER_LEN) return 0;
  for (let i = 0; i < 16; i++) if (buf[i] !== 0xff) return new BgpDecodeError(Notif.Header, HeaderSub.NotSynchronized, 'the marker is not all ones');
  const len = ((buf[16] as number) << 8) | (buf[17] as number);
  if (len < HEADER_LEN || len > MAX_MESSAGE_LEN) return new BgpDecodeError(Notif.Header, HeaderSub.BadLength, `message length ${len} is outside 19..4096`, 'session-reset', buf.slice(16, 18));
  return buf.length >= len ? len : 0;
}

const MIN_LEN: Readonly<Record<number, number>> = { [MessageType.Open]: 29, [MessageType.Update]: 23, [MessageType.Notification]: 21, [MessageType.Keepalive]: 19, [MessageType.RouteRefresh]: 23 };

/**
 * Pure: one whole message (exactly `bytes`) → a message or a typed error, never anything else. The
 * negotiated options (four-octet AS) travel in `opts`. Never mutates its input.
 */
export function decode(bytes: Uint8Array, opts: CodecOptions): DecodeResult {
  try {
    const f = frameLength(bytes);
    if (f instanceof BgpDecodeError) return { ok: false, error: f };
    if (f === 0 || f !== bytes.length) return { ok: false, error: new BgpDecodeError(Notif.Header, HeaderSub.BadLength, `have ${bytes.length} bytes for a message of ${f === 0 ? 'unknown length' : f}`) };
    const type = bytes[18] as number;
    const min = MIN_LEN[type];
    if (min === undefined) return { ok: false, error: new BgpDecodeError(Notif.Header, HeaderSub.BadType, `message type ${type} is unknown`, 'session-reset', new Uint8Array([type])) };
    if (f < min || (type === MessageType.Keepalive && f !== HEADER_LEN) || (type === MessageType.RouteRefresh && f !== 23)) {
      return { ok: false, error: new BgpDecodeError(Notif.Header, HeaderSub.BadLength, `length ${f} is wrong for message type ${type}`, 'session-reset', bytes.slice(16, 18)) };
    }
    const r = new Reader(bytes, HEADER_LEN, f);
    let message: BgpMessage;
    switch (type) {
      case MessageType.Open:
        message = decodeOpen(r);
        break;
      case MessageType.Update:
        message = decodeUpdate(r, opts);
        break;
      case MessageType.Notification: {
        const code = r.u8();
        const subcode = r.u8();
        message = { type: 'notification', code, subcode, data: r.bytes(r.remaining()).slice() };
        break;
      }
      case MessageType.RouteRefresh:
        message = { type: 'route-refresh', afi: r.u16(), subtype: r.u8(), safi: r.u8() };
        break;
      default:
        message = { type: 'keepalive' };
    }
    return { ok: true, message, length: f };
  } catch (e) {
    if (e instanceof BgpDecodeError) return { ok: false, error: e };
    return { ok: false, error: new BgpDecodeError(Notif.Header, 0, `internal decode error: ${e instanceof Error ? e.message : String(e)}`) };
  }
}

/** Pure: the exact inverse of decode for the messages it produces. Throws for a message over the limit. */
export function encode(m: BgpMessage, opts: CodecOptions): Uint8Array {
  const bytes = encodeAnySize(m, opts);
  if (bytes.length > MAX_MESSAGE_LEN) throw new RangeError(`a ${m.type} of ${bytes.length} bytes exceeds the 4096-byte limit`);
  return bytes;
}

/** The encoded size of a message, whatever it is (for packing UPDATEs under the limit). */
export function encodedSize(m: BgpMessage, opts: CodecOptions): number {
  return encodeAnySize(m, opts).length;
}

function encodeAnySize(m: BgpMessage, opts: CodecOptions): Uint8Array {
  const w = new Writer();
  for (let i = 0; i < 16; i++) w.u8(0xff);
  const lenAt = w.length;
  w.u16(0);
  switch (m.type) {
    case 'open':
      w.u8(MessageType.Open);
      encodeOpen(w, m);
      break;
    case 'update':
      w.u8(MessageType.Update);
      encodeUpdate(w, m, opts);
      break;
    case 'notification':
      w.u8(MessageType.Notification).u8(m.code).u8(m.subcode).bytes(m.data);
      break;
    case 'keepalive':
      w.u8(MessageType.Keepalive);
      break;
    case 'route-refresh':
      w.u8(MessageType.RouteRefresh).u16(m.afi).u8(m.subtype).u8(m.safi);
      break;
  }
  w.patch16(lenAt, Math.min(w.length, 0xffff));
  return w.done();
}
