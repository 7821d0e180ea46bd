import { ipFromBytes, ipToBytes, type IP } from '../../util/ip.js';
import { Afi, AttrFlag, AttrType, Notif, UpdateSub } from './constants.js';
import type { ErrorHandling } from './errors.js';
import { readPrefixes, writePrefix } from './prefix.js';
import type { Reader} from './reader.js';
import { Writer } from './reader.js';
import type { AsPathSegment, Attribute, CodecOptions } from './types.js';

/** A malformed attribute, with what RFC 7606 section 7 says to do about it. */
export class AttributeProblem extends Error {
  constructor(
    readonly subcode: number,
    message: string,
    readonly handling: ErrorHandling,
  ) {
    super(message);
  }
}

const WITHDRAW: ErrorHandling = 'treat-as-withdraw';

function readSegments(v: Reader, asLen: 2 | 4, what: string): AsPathSegment[] {
  const out: AsPathSegment[] = [];
  while (v.remaining() > 0) {
    if (v.remaining() < 2) throw new AttributeProblem(UpdateSub.MalformedAsPath, `${what}: a segment header is cut short`, WITHDRAW);
    const t = v.u8();
    const n = v.u8();
    if (t !== 1 && t !== 2) throw new AttributeProblem(UpdateSub.MalformedAsPath, `${what}: segment type ${t} is not AS_SET or AS_SEQUENCE`, WITHDRAW);
    if (n === 0) throw new AttributeProblem(UpdateSub.MalformedAsPath, `${what}: an empty segment`, WITHDRAW);
    if (v.remaining() < n * asLen) throw new AttributeProblem(UpdateSub.MalformedAsPath, `${what}: segment of ${n} AS numbers overruns the attribute`, WITHDRAW);
    const asns: number[] = [];
    for (let i = 0; i < n; i++) asns.push(asLen === 4 ? v.u32() : v.u16());
    out.push({ type: t === 1 ? 'set' : 'sequence', asns });
  }
  return out;
}

function writeSegments(w: Writer, segs: readonly AsPathSegment[], asLen: 2 | 4): void {
  for (const s of segs) {
    w.u8(s.type === 'set' ? 1 : 2).u8(s.asns.length);
    for (const a of s.asns) {
      if (asLen === 4) w.u32(a);
      else w.u16(a);
    }
  }
}

/** Expected optional/transitive bits of the well-known and common optional attributes (RFC 4271 5). */
const EXPECTED_FLAGS: Readonly<Record<number, number>> = {
  [AttrType.Origin]: AttrFlag.Transitive,
  [AttrType.AsPath]: AttrFlag.Transitive,
  [AttrType.NextHop]: AttrFlag.Transitive,
  [AttrType.Med]: AttrFlag.Optional,
  [AttrType.LocalPref]: AttrFlag.Transitive,
  [AttrType.AtomicAggregate]: AttrFlag.Transitive,
  [AttrType.Aggregator]: AttrFlag.Optional | AttrFlag.Transitive,
  [AttrType.Communities]: AttrFlag.Optional | AttrFlag.Transitive,
  [AttrType.OriginatorId]: AttrFlag.Optional,
  [AttrType.ClusterList]: AttrFlag.Optional,
  [AttrType.MpReach]: AttrFlag.Optional,
  [AttrType.MpUnreach]: AttrFlag.Optional,
  [AttrType.As4Path]: AttrFlag.Optional | AttrFlag.Transitive,
};

/** RFC 7606 section 7: what a malformed instance of each attribute leads to. */
function handlingFor(code: number): ErrorHandling {
  switch (code) {
    case AttrType.AtomicAggregate:
    case AttrType.Aggregator:
    case AttrType.As4Path:
    case AttrType.As4Aggregator:
      return 'attribute-discard';
    case AttrType.MpReach:
    case AttrType.MpUnreach:
      return 'session-reset';
    default:
      return WITHDRAW;
  }
}

/** Decodes one attribute's value; throws AttributeProblem when it is malformed. */
export function decodeAttributeValue(code: number, flags: number, v: Reader, opts: CodecOptions): Attribute {
  const expected = EXPECTED_FLAGS[code];
  if (expected !== undefined && (flags & (AttrFlag.Optional | AttrFlag.Transitive)) !== expected) {
    throw new AttributeProblem(UpdateSub.AttributeFlags, `attribute ${code}: flags 0x${flags.toString(16)} conflict with its type`, handlingFor(code));
  }
  const len = v.remaining();
  const fixed = (n: number): void => {
    if (len !== n) throw new AttributeProblem(UpdateSub.AttributeLength, `attribute ${code}: length ${len}, expected ${n}`, handlingFor(code));
  };
  switch (code) {
    case AttrType.Origin: {
      fixed(1);
      const o = v.u8();
      if (o > 2) throw new AttributeProblem(UpdateSub.InvalidOrigin, `ORIGIN ${o} is not IGP, EGP or INCOMPLETE`, WITHDRAW);
      return { type: 'origin', flags, origin: o as 0 | 1 | 2 };
    }
    case AttrType.AsPath:
      return { type: 'as-path', flags, segments: readSegments(v, opts.fourOctetAs ? 4 : 2, 'AS_PATH') };
    case AttrType.NextHop: {
      fixed(4);
      const nh = ipFromBytes(v.bytes(4));
      if (nh === '0.0.0.0' || nh === '255.255.255.255') throw new AttributeProblem(UpdateSub.InvalidNextHop, `NEXT_HOP ${nh} is not a usable address`, WITHDRAW);
      return { type: 'next-hop', flags, nextHop: nh };
    }
    case AttrType.Med:
      fixed(4);
      return { type: 'med', flags, value: v.u32() };
    case AttrType.LocalPref:
      fixed(4);
      return { type: 'local-pref', flags, value: v.u32() };
    case AttrType.AtomicAggregate:
      fixed(0);
      return { type: 'atomic-aggregate', flags };
    case AttrType.Aggregator: {
      fixed(opts.fourOctetAs ? 8 : 6);
      const asn = opts.fourOctetAs ? v.u32() : v.u16();
      return { type: 'aggregator', flags, asn, address: ipFromBytes(v.bytes(4)) };
    }
    case AttrType.Communities: {
      if (len % 4 !== 0 || len === 0) throw new AttributeProblem(UpdateSub.OptionalAttribute, `COMMUNITIES length ${len} is not a positive multiple of 4`, WITHDRAW);
      const communities: number[] = [];
      while (v.remaining() > 0) communities.push(v.u32());
      return { type: 'communities', flags, communities };
    }
    case AttrType.OriginatorId:
      fixed(4);
      return { type: 'originator-id', flags, id: ipFromBytes(v.bytes(4)) };
    case AttrType.ClusterList: {
      if (len % 4 !== 0 || len === 0) throw new AttributeProblem(UpdateSub.AttributeLength, `CLUSTER_LIST length ${len} is not a positive multiple of 4`, WITHDRAW);
      const ids: IP[] = [];
      while (v.remaining() > 0) ids.push(ipFromBytes(v.bytes(4)));
      return { type: 'cluster-list', flags, ids };
    }
    case AttrType.MpReach: {
      if (len < 5) throw new AttributeProblem(UpdateSub.OptionalAttribute, `MP_REACH_NLRI of ${len} bytes is too short`, 'session-reset');
      const afi = v.u16();
      const safi = v.u8();
      const nhLen = v.u8();
      if (afi !== Afi.IPv4 && afi !== Afi.IPv6) throw new AttributeProblem(UpdateSub.OptionalAttribute, `MP_REACH_NLRI AFI ${afi} is not supported`, 'session-reset');
      const valid = afi === Afi.IPv4 ? [4] : [16, 32];
      if (!valid.includes(nhLen) || v.remaining() < nhLen + 1) throw new AttributeProblem(UpdateSub.OptionalAttribute, `MP_REACH_NLRI next hop length ${nhLen} is not valid for AFI ${afi}`, 'session-reset');
      const nh = v.bytes(nhLen);
      const nextHops = afi === Afi.IPv4 ? [ipFromBytes(nh)] : nhLen === 16 ? [ipFromBytes(nh)] : [ipFromBytes(nh.subarray(0, 16)), ipFromBytes(nh.subarray(16))];
      v.u8(); // reserved
      try {
        return { type: 'mp-reach', flags, afi, safi, nextHops, nlri: readPrefixes(v, afi, Notif.Update, UpdateSub.OptionalAttribute) };
      } catch (e) {
        throw new AttributeProblem(UpdateSub.OptionalAttribute, `MP_REACH_NLRI: ${e instanceof Error ? e.message : String(e)}`, 'session-reset');
      }
    }
    case AttrType.MpUnreach: {
      if (len < 3) throw new AttributeProblem(UpdateSub.OptionalAttribute, `MP_UNREACH_NLRI of ${len} bytes is too short`, 'session-reset');
      const afi = v.u16();
      const safi = v.u8();
      if (afi !== Afi.IPv4 && afi !== Afi.IPv6) throw new AttributeProblem(UpdateSub.OptionalAttribute, `MP_UNREACH_NLRI AFI ${afi} is not supported`, 'session-reset');
      try {
        return { type: 'mp-unreach', flags, afi, safi, withdrawn: readPrefixes(v, afi, Notif.Update, UpdateSub.OptionalAttribute) };
      } catch (e) {
        throw new AttributeProblem(UpdateSub.OptionalAttribute, `MP_UNREACH_NLRI: ${e instanceof Error ? e.message : String(e)}`, 'session-reset');
      }
    }
    case AttrType.As4Path:
      return { type: 'as4-path', flags, segments: readSegments(v, 4, 'AS4_PATH') };
    default:
      return { type: 'unknown', flags, code, value: v.bytes(len).slice() };
  }
}

function codeOf(a: Attribute): number {
  switch (a.type) {
    case 'origin':
      return AttrType.Origin;
    case 'as-path':
      return AttrType.AsPath;
    case 'next-hop':
      return AttrType.NextHop;
    case 'med':
      return AttrType.Med;
    case 'local-pref':
      return AttrType.LocalPref;
    case 'atomic-aggregate':
      return AttrType.AtomicAggregate;
    case 'aggregator':
      return AttrType.Aggregator;
    case 'communities':
      return AttrType.Communities;
    case 'originator-id':
      return AttrType.OriginatorId;
    case 'cluster-list':
      return AttrType.ClusterList;
    case 'mp-reach':
      return AttrType.MpReach;
    case 'mp-unreach':
      return AttrType.MpUnreach;
    case 'as4-path':
      return AttrType.As4Path;
    case 'unknown':
      return a.code;
  }
}

function encodeValue(w: Writer, a: Attribute, opts: CodecOptions): void {
  switch (a.type) {
    case 'origin':
      w.u8(a.origin);
      return;
    case 'as-path':
      writeSegments(w, a.segments, opts.fourOctetAs ? 4 : 2);
      return;
    case 'as4-path':
      writeSegments(w, a.segments, 4);
      return;
    case 'next-hop':
      w.bytes(ipToBytes(a.nextHop));
      return;
    case 'med':
    case 'local-pref':
      w.u32(a.value);
      return;
    case 'atomic-aggregate':
      return;
    case 'aggregator':
      if (opts.fourOctetAs) w.u32(a.asn);
      else w.u16(a.asn);
      w.bytes(ipToBytes(a.address));
      return;
    case 'communities':
      for (const c of a.communities) w.u32(c);
      return;
    case 'originator-id':
      w.bytes(ipToBytes(a.id));
      return;
    case 'cluster-list':
      for (const id of a.ids) w.bytes(ipToBytes(id));
      return;
    case 'mp-reach':
      w.u16(a.afi).u8(a.safi).u8(a.nextHops.length * (a.afi === Afi.IPv4 ? 4 : 16));
      for (const nh of a.nextHops) w.bytes(ipToBytes(nh));
      w.u8(0);
      for (const p of a.nlri) writePrefix(w, p);
      return;
    case 'mp-unreach':
      w.u16(a.afi).u8(a.safi);
      for (const p of a.withdrawn) writePrefix(w, p);
      return;
    case 'unknown':
      w.bytes(a.value);
      return;
  }
}

/** Writes one attribute: flags (the extended-length bit chosen by the value's size), type, length, value. */
export function encodeAttribute(w: Writer, a: Attribute, opts: CodecOptions): void {
  const body = new Writer();
  encodeValue(body, a, opts);
  const value = body.done();
  const ext = value.length > 255 || (a.flags & AttrFlag.ExtendedLength) !== 0;
  w.u8(ext ? a.flags | AttrFlag.ExtendedLength : a.flags & ~AttrFlag.ExtendedLength).u8(codeOf(a));
  if (ext) w.u16(value.length);
  else w.u8(value.length);
  w.bytes(value);
}

