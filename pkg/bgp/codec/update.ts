import { Afi, AttrFlag, AttrType, Notif, UpdateSub } from './constants.js';
import { BgpDecodeError } from './errors.js';
import { AttributeProblem, decodeAttributeValue, encodeAttribute } from './attributes.js';
import { readPrefixes, writePrefix } from './prefix.js';
import type { Reader} from './reader.js';
import { Writer } from './reader.js';
import type { Attribute, AttributeError, CodecOptions, UpdateMessage } from './types.js';

const MALFORMED: [number, number] = [Notif.Update, UpdateSub.MalformedAttributeList];

/**
 * RFC 4271 4.3 with RFC 7606 error handling: NLRI and length-field errors reset the session; a
 * malformed ordinary attribute makes the UPDATE's routes withdrawn; a malformed informational one
 * (ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH) is dropped; a repeated attribute keeps its first copy,
 * except MP_REACH/MP_UNREACH, whose repetition resets the session.
 */
export function decodeUpdate(r: Reader, opts: CodecOptions): UpdateMessage {
  const wLen = r.u16('the withdrawn routes length');
  if (wLen + 2 > r.remaining()) throw new BgpDecodeError(...MALFORMED, `withdrawn routes length ${wLen} overruns the message`);
  const withdrawn = readPrefixes(r.sub(wLen, 'withdrawn routes', MALFORMED), Afi.IPv4, Notif.Update, UpdateSub.InvalidNetworkField);
  const aLen = r.u16('the path attributes length');
  if (aLen > r.remaining()) throw new BgpDecodeError(...MALFORMED, `path attributes length ${aLen} overruns the message`);
  const ar = r.sub(aLen, 'path attributes', MALFORMED);
  const nlri = readPrefixes(r, Afi.IPv4, Notif.Update, UpdateSub.InvalidNetworkField);

  const attributes: Attribute[] = [];
  const errors: AttributeError[] = [];
  const seen = new Set<number>();
  let withdraw = false;
  while (ar.remaining() > 0) {
    if (ar.remaining() < 3) {
      errors.push({ code: Notif.Update, subcode: UpdateSub.MalformedAttributeList, handling: 'treat-as-withdraw', reason: 'an attribute header is cut short' });
      withdraw = true;
      break;
    }
    const flags = ar.u8();
    const code = ar.u8();
    const ext = (flags & AttrFlag.ExtendedLength) !== 0;
    if (ext && ar.remaining() < 2) {
      errors.push({ code: Notif.Update, subcode: UpdateSub.MalformedAttributeList, handling: 'treat-as-withdraw', reason: 'an extended attribute length is cut short' });
      withdraw = true;
      break;
    }
    const len = ext ? ar.u16() : ar.u8();
    if (len > ar.remaining()) {
      if (code === AttrType.MpReach || code === AttrType.MpUnreach) throw new BgpDecodeError(Notif.Update, UpdateSub.AttributeLength, `attribute ${code} length ${len} overruns the attributes`);
      errors.push({ code: Notif.Update, subcode: UpdateSub.AttributeLength, handling: 'treat-as-withdraw', reason: `attribute ${code} length ${len} overruns the attributes` });
      withdraw = true;
      break;
    }
    const value = ar.sub(len, `attribute ${code}`);
    if (seen.has(code)) {
      if (code === AttrType.MpReach || code === AttrType.MpUnreach) throw new BgpDecodeError(...MALFORMED, `attribute ${code} appears twice`);
      errors.push({ code: Notif.Update, subcode: UpdateSub.MalformedAttributeList, handling: 'attribute-discard', reason: `attribute ${code} appears twice; the first is kept` });
      continue;
    }
    seen.add(code);
    try {
      attributes.push(decodeAttributeValue(code, flags, value, opts));
    } catch (e) {
      if (!(e instanceof AttributeProblem)) throw e;
      if (e.handling === 'session-reset') throw new BgpDecodeError(Notif.Update, e.subcode, e.message);
      errors.push({ code: Notif.Update, subcode: e.subcode, handling: e.handling, reason: e.message });
      if (e.handling === 'treat-as-withdraw') withdraw = true;
    }
  }

  // Well-known mandatory attributes, needed when the UPDATE announces anything (RFC 7606 3(d)).
  const announces = nlri.length > 0 || attributes.some((a) => a.type === 'mp-reach');
  if (announces && !withdraw) {
    const has = (t: Attribute['type']): boolean => attributes.some((a) => a.type === t);
    const missing = [has('origin') ? '' : 'ORIGIN', has('as-path') ? '' : 'AS_PATH', nlri.length > 0 && !has('next-hop') ? 'NEXT_HOP' : ''].filter((x) => x !== '');
    if (missing.length > 0) {
      errors.push({ code: Notif.Update, subcode: UpdateSub.MissingWellKnown, handling: 'treat-as-withdraw', reason: `missing ${missing.join(', ')}` });
      withdraw = true;
    }
  }
  return { type: 'update', withdrawn, attributes, nlri, ...(withdraw ? { treatAsWithdraw: true as const } : {}), ...(errors.length > 0 ? { errors } : {}) };
}

export function encodeUpdate(w: Writer, m: UpdateMessage, opts: CodecOptions): void {
  const wd = new Writer();
  for (const p of m.withdrawn) writePrefix(wd, p);
  const wb = wd.done();
  w.u16(wb.length).bytes(wb);
  const at = new Writer();
  for (const a of m.attributes) encodeAttribute(at, a, opts);
  const ab = at.done();
  w.u16(ab.length).bytes(ab);
  for (const p of m.nlri) writePrefix(w, p);
}

