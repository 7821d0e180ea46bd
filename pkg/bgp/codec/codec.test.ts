import assert from 'node:assert/strict';
import type { CIDR, IP } from '../../util/ip.js';
import { AttrFlag, HeaderSub, Notif, OpenSub, UpdateSub } from './constants.js';
import { decode, encode, frameLength } from './message.js';
import type { BgpMessage, CodecOptions, UpdateMessage } from './types.js';

const AS4: CodecOptions = { fourOctetAs: true };
const AS2: CodecOptions = { fourOctetAs: false };
const ip = (s: string): IP => s as IP;
const cidr = (s: string): CIDR => s as CIDR;
/** Hex with spaces for reading; `LEN` stands for the message's real length (16 bits). */
const hex = (s: string): Uint8Array => {
  const clean = s.replace(/\s+/g, '');
  const bytesWithout = clean.replace('LEN', '').length / 2;
  return Uint8Array.from(Buffer.from(clean.replace('LEN', (bytesWithout + 2).toString(16).padStart(4, '0')), 'hex'));
};
const MARKER = 'ffffffffffffffffffffffffffffffff';

const T = AttrFlag.Transitive;
const O = AttrFlag.Optional;
const route: UpdateMessage = {
  type: 'update',
  withdrawn: [cidr('198.19.9.0/24')],
  attributes: [
    { type: 'origin', flags: T, origin: 0 },
    { type: 'as-path', flags: T, segments: [{ type: 'sequence', asns: [64512, 4200000001] }, { type: 'set', asns: [65001] }] },
    { type: 'next-hop', flags: T, nextHop: ip('198.18.0.11') },
    { type: 'med', flags: O, value: 10 },
    { type: 'local-pref', flags: T, value: 100 },
    { type: 'atomic-aggregate', flags: T },
    { type: 'aggregator', flags: O | T, asn: 64512, address: ip('198.18.0.11') },
    { type: 'communities', flags: O | T, communities: [0xffffff01, 64512 * 65536 + 100] },
    { type: 'originator-id', flags: O, id: ip('198.18.0.12') },
    { type: 'cluster-list', flags: O, ids: [ip('198.18.0.1')] },
    { type: 'unknown', flags: O | T | AttrFlag.Partial, code: 200, value: new Uint8Array([1, 2, 3]) },
  ],
  nlri: [cidr('198.18.64.0/24'), cidr('198.19.0.0/16'), cidr('0.0.0.0/0'), cidr('198.18.0.5/32')],
};

const messages: [string, BgpMessage, CodecOptions][] = [
  ['keepalive', { type: 'keepalive' }, AS4],
  ['notification with data', { type: 'notification', code: Notif.Cease, subcode: 2, data: new TextEncoder().encode('shutdown') }, AS4],
  ['route refresh', { type: 'route-refresh', afi: 2, subtype: 1, safi: 1 }, AS4],
  [
    'open with every capability we know and one we do not',
    {
      type: 'open',
      version: 4,
      myAs: 23456,
      holdTime: 90,
      bgpId: ip('198.18.0.11'),
      capabilities: [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'multiprotocol', afi: 2, safi: 1 },
        { kind: 'route-refresh' },
        { kind: 'enhanced-route-refresh' },
        { kind: 'four-octet-as', asn: 4200000001 },
        { kind: 'graceful-restart', restarting: true, notification: false, time: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] },
        { kind: 'unknown', code: 73, value: new Uint8Array([4, 110, 111, 100, 101]) },
      ],
    },
    AS4,
  ],
  ['update with every attribute (4-octet AS)', route, AS4],
  ['update with 2-octet AS paths', { ...route, attributes: route.attributes.map((a) => (a.type === 'as-path' ? { ...a, segments: [{ type: 'sequence' as const, asns: [64512, 23456] }] } : a)) }, AS2],
  [
    'IPv6 via MP_REACH and MP_UNREACH, with a link-local next hop',
    {
      type: 'update',
      withdrawn: [],
      attributes: [
        { type: 'origin', flags: T, origin: 2 },
        { type: 'as-path', flags: T, segments: [] },
        { type: 'mp-reach', flags: O, afi: 2, safi: 1, nextHops: [ip('2001:db8::11'), ip('fe80::1')], nlri: [cidr('2001:db8:64::/64'), cidr('2001:db8::/32')] },
        { type: 'mp-unreach', flags: O | AttrFlag.ExtendedLength, afi: 2, safi: 1, withdrawn: [cidr('2001:db8:65::/64')] },
      ],
      nlri: [],
    },
    AS4,
  ],
  ['end-of-RIB marker (empty update)', { type: 'update', withdrawn: [], attributes: [], nlri: [] }, AS4],
];

describe('BGP codec: round trips', () => {
  for (const [name, m, opts] of messages) {
    it(name, () => {
      const bytes = encode(m, opts);
      const copy = Uint8Array.from(bytes);
      const r = decode(bytes, opts);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.deepEqual(r.message, m);
      assert.deepEqual(bytes, copy, 'decode does not mutate its input');
      assert.deepEqual(encode(r.message, opts), bytes, 'encode(decode(b)) === b');
    });
  }
  it('frames a stream: 0 while incomplete, the length once whole', () => {
    const b = encode({ type: 'keepalive' }, AS4);
    assert.equal(frameLength(b.subarray(0, 10)), 0);
    assert.equal(frameLength(b), 19);
  });
  it('many attributes take the extended length', () => {
    const m: UpdateMessage = { ...route, attributes: [...route.attributes.filter((a) => a.type !== 'communities'), { type: 'communities', flags: O | T | AttrFlag.ExtendedLength, communities: Array.from({ length: 100 }, (_, i) => i) }] };
    const r = decode(encode(m, AS4), AS4);
    assert.ok(r.ok);
    assert.deepEqual(r.message, m);
  });
});

/** Annotated malformed messages and what decode must say about each. */
const fixtures: [string, string, number, number, string][] = [
  ['marker not all ones', `ffffffffffffffffffffffffffff0000 0013 04`, Notif.Header, HeaderSub.NotSynchronized, 'session-reset'],
  ['length below 19', `${MARKER} 0012 04`, Notif.Header, HeaderSub.BadLength, 'session-reset'],
  ['unknown type 9', `${MARKER} 0013 09`, Notif.Header, HeaderSub.BadType, 'session-reset'],
  ['keepalive with a body', `${MARKER} 0014 04 00`, Notif.Header, HeaderSub.BadLength, 'session-reset'],
  //                                              ver AS   hold id       optlen
  ['OPEN version 3', `${MARKER} LEN 01 03 fde8 005a c612000b 00`, Notif.Open, OpenSub.UnsupportedVersion, 'session-reset'],
  ['OPEN hold time 2', `${MARKER} LEN 01 04 fde8 0002 c612000b 00`, Notif.Open, OpenSub.UnacceptableHoldTime, 'session-reset'],
  ['OPEN BGP id 0.0.0.0', `${MARKER} LEN 01 04 fde8 005a 00000000 00`, Notif.Open, OpenSub.BadBgpId, 'session-reset'],
  //                                                                          param type 1 (authentication, removed), len 1
  ['OPEN optional parameter type 1', `${MARKER} LEN 01 04 fde8 005a c612000b 03 01 01 00`, Notif.Open, OpenSub.UnsupportedOptionalParameter, 'session-reset'],
  //                                            withdrawn-len attr-len
  ['UPDATE withdrawn length overruns', `${MARKER} LEN 02 0010 0000`, Notif.Update, UpdateSub.MalformedAttributeList, 'session-reset'],
  ['UPDATE path attribute length overruns', `${MARKER} LEN 02 0000 0010`, Notif.Update, UpdateSub.MalformedAttributeList, 'session-reset'],
  //                                                         NLRI: length 33
  ['UPDATE NLRI prefix length 33', `${MARKER} LEN 02 0000 0000 21 c6120000 00`, Notif.Update, UpdateSub.InvalidNetworkField, 'session-reset'],
  //                                   MP_REACH afi 1 safi 1 nh 198.18.0.11, no NLRI (x2)
  ['UPDATE MP_REACH twice', `${MARKER} LEN 02 0000 0018 800e 09 0001 01 04 c612000b 00 800e 09 0001 01 04 c612000b 00`, Notif.Update, UpdateSub.MalformedAttributeList, 'session-reset'],
  //                                                    MP_REACH afi 1 safi 1 nh-len 5
  ['UPDATE MP_REACH next hop length 5 for IPv4', `${MARKER} LEN 02 0000 000b 800e 08 0001 01 05 c612000b00`, Notif.Update, UpdateSub.OptionalAttribute, 'session-reset'],
];

/** Well-formed framing, malformed attributes: RFC 7606 keeps the session. NLRI 198.18.64.0/24 in each. */
const withdrawFixtures: [string, string, number, string][] = [
  //                                  attr-len ORIGIN=5  AS_PATH empty NEXT_HOP 198.18.0.11   NLRI
  ['ORIGIN 5', `${MARKER} LEN 02 0000 000e 4001 01 05 4002 00 4003 04 c612000b 18 c61240`, UpdateSub.InvalidOrigin, 'treat-as-withdraw'],
  ['NEXT_HOP missing with NLRI', `${MARKER} LEN 02 0000 0007 4001 01 00 4002 00 18 c61240`, UpdateSub.MissingWellKnown, 'treat-as-withdraw'],
  //                                                                AS_PATH: SEQUENCE of 5, only one AS there
  ['AS_PATH segment overruns', `${MARKER} LEN 02 0000 0012 4001 01 00 4002 04 0205 fde8 4003 04 c612000b 18 c61240`, UpdateSub.MalformedAsPath, 'treat-as-withdraw'],
  ['NEXT_HOP 0.0.0.0', `${MARKER} LEN 02 0000 000e 4001 01 00 4002 00 4003 04 00000000 18 c61240`, UpdateSub.InvalidNextHop, 'treat-as-withdraw'],
  //                                         ORIGIN flagged optional
  ['ORIGIN with the optional flag (flags error)', `${MARKER} LEN 02 0000 000e c001 01 00 4002 00 4003 04 c612000b 18 c61240`, UpdateSub.AttributeFlags, 'treat-as-withdraw'],
  //                                                                                        ATOMIC_AGGREGATE len 1
  ['ATOMIC_AGGREGATE with a length of 1 is dropped, the route stays', `${MARKER} LEN 02 0000 0012 4001 01 00 4002 00 4003 04 c612000b 4006 01 00 18 c61240`, UpdateSub.AttributeLength, 'attribute-discard'],
];

describe('BGP codec: malformed messages (annotated fixtures)', () => {
  for (const [name, h, code, subcode, handling] of fixtures) {
    it(`${name} → ${code}/${subcode} ${handling}`, () => {
      const r = decode(hex(h), AS4);
      assert.equal(r.ok, false, 'decoded a malformed message');
      if (!r.ok) {
        assert.equal(r.error.code, code, r.error.message);
        assert.equal(r.error.subcode, subcode, r.error.message);
        assert.equal(r.error.handling, handling);
      }
    });
  }
  for (const [name, h, subcode, handling] of withdrawFixtures) {
    it(`${name} → ${handling}`, () => {
      const r = decode(hex(h), AS4);
      assert.ok(r.ok, r.ok ? '' : `${r.error.code}/${r.error.subcode} ${r.error.message}`);
      const m = r.message as UpdateMessage;
      assert.equal(m.type, 'update');
      assert.ok(m.errors?.some((e) => e.subcode === subcode && e.handling === handling), JSON.stringify(m.errors));
      assert.equal(m.treatAsWithdraw === true, handling === 'treat-as-withdraw');
      assert.deepEqual(m.nlri, ['198.18.64.0/24']);
    });
  }
});

describe('BGP codec: one byte short, for every message type', () => {
  for (const [name, m, opts] of messages) {
    it(name, () => {
      const b = encode(m, opts);
      const short = Uint8Array.from(b.subarray(0, b.length - 1));
      // Keep the header's length consistent with what is there, so the body itself is one byte short.
      short[16] = (short.length >> 8) & 0xff;
      short[17] = short.length & 0xff;
      const r = decode(short, opts);
      if (r.ok) {
        // An UPDATE can lose its last NLRI byte and still parse only if that changes what it says.
        assert.notDeepEqual(r.message, m);
      } else assert.ok(r.error.code >= 1 && r.error.code <= 6, r.error.message);
      const truncated = decode(b.subarray(0, b.length - 1), opts);
      assert.equal(truncated.ok, false, 'a message shorter than its header says is refused');
    });
  }
});
