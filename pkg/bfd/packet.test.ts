import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONTROL_LEN, decodeControl, encodeControl, type BfdState, type ControlPacket } from './packet.js';

const packetArb: fc.Arbitrary<ControlPacket> = fc
  .record({
    diag: fc.integer({ min: 0, max: 31 }),
    state: fc.constantFrom<BfdState>('AdminDown', 'Down', 'Init', 'Up'),
    poll: fc.boolean(),
    final: fc.boolean(),
    demand: fc.boolean(),
    detectMult: fc.integer({ min: 1, max: 255 }),
    myDiscr: fc.integer({ min: 1, max: 0xffffffff }),
    yourDiscr: fc.integer({ min: 0, max: 0xffffffff }),
    desiredMinTxUs: fc.integer({ min: 0, max: 0xffffffff }),
    requiredMinRxUs: fc.integer({ min: 0, max: 0xffffffff }),
    requiredMinEchoRxUs: fc.integer({ min: 0, max: 0xffffffff }),
  })
  // A packet with Your Discriminator 0 is only valid in Down or AdminDown (RFC 5880 6.8.6).
  .filter((p) => p.yourDiscr !== 0 || p.state === 'Down' || p.state === 'AdminDown');

describe('BFD control packets (RFC 5880 4.1)', () => {
  it('every valid packet survives encode and decode unchanged', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const b = encodeControl(p);
        assert.equal(b.length, CONTROL_LEN);
        assert.deepEqual(decodeControl(b), { ok: true, packet: { ...p } });
      }),
      { numRuns: 2000 },
    );
  });

  it('the wire layout is the RFC\'s: version 1, state in the top two bits, lengths and intervals in microseconds', () => {
    const b = encodeControl({ diag: 1, state: 'Up', poll: true, final: false, demand: false, detectMult: 3, myDiscr: 0x01020304, yourDiscr: 5, desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, requiredMinEchoRxUs: 0 });
    assert.equal(b[0], 0x21); // version 1 << 5 | diag 1
    assert.equal(b[1], 0xe0); // Up (3) << 6 | P
    assert.equal(b[2], 3);
    assert.equal(b[3], 24);
    assert.equal(b.readUInt32BE(4), 0x01020304);
    assert.equal(b.readUInt32BE(12), 300_000);
  });

  it('random bytes never throw; what fails the reception checks says why', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => {
        const r = decodeControl(bytes);
        if (!r.ok) assert.ok(r.reason.length > 0);
      }),
      { numRuns: 5000 },
    );
  });

  it('discards what RFC 5880 6.8.6 says to discard', () => {
    const good = encodeControl({ diag: 0, state: 'Down', poll: false, final: false, demand: false, detectMult: 3, myDiscr: 7, yourDiscr: 0, desiredMinTxUs: 1_000_000, requiredMinRxUs: 1_000_000, requiredMinEchoRxUs: 0 });
    assert.equal(decodeControl(good).ok, true);
    const bad = (mutate: (b: Buffer) => void): string => {
      const b = Buffer.from(good);
      mutate(b);
      const r = decodeControl(b);
      assert.equal(r.ok, false);
      return r.ok ? '' : r.reason;
    };
    assert.match(bad((b) => (b[0] = 0x40)), /version 2/);
    assert.match(bad((b) => (b[2] = 0)), /detect multiplier 0/);
    assert.match(bad((b) => (b[1] = 0x41)), /multipoint/);
    assert.match(bad((b) => b.writeUInt32BE(0, 4)), /my discriminator 0/);
    assert.match(bad((b) => (b[1] = 0xc0)), /your discriminator 0 in state Up/);
    assert.match(bad((b) => (b[3] = 40)), /length field 40/);
    assert.match(bad((b) => (b[3] = 20)), /length field 20/);
    assert.match(bad((b) => (b[1] = 0x44)), /authentication/);
    assert.equal(decodeControl(good.subarray(0, 23)).ok, false);
  });
});
