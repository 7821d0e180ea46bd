import assert from 'node:assert/strict';
import { BgpDecodeError } from './errors.js';
import { decode, encode } from './message.js';
import type { CodecOptions } from './types.js';

/** A small deterministic PRNG (xorshift32): the fuzz run is repeatable. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const SEEDS: Uint8Array[] = [
  encode({ type: 'keepalive' }, { fourOctetAs: true }),
  encode({ type: 'open', version: 4, myAs: 64512, holdTime: 90, bgpId: '198.18.0.1' as never, capabilities: [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'four-octet-as', asn: 64512 }, { kind: 'graceful-restart', restarting: false, notification: true, time: 90, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] }] }, { fourOctetAs: true }),
  encode({ type: 'update', withdrawn: ['198.19.1.0/24' as never], attributes: [{ type: 'origin', flags: 0x40, origin: 0 }, { type: 'as-path', flags: 0x40, segments: [{ type: 'sequence', asns: [64512] }] }, { type: 'next-hop', flags: 0x40, nextHop: '198.18.0.1' as never }, { type: 'communities', flags: 0xc0, communities: [1, 2] }, { type: 'mp-reach', flags: 0x80, afi: 2, safi: 1, nextHops: ['2001:db8::1' as never], nlri: ['2001:db8:64::/64' as never] }], nlri: ['198.18.64.0/24' as never] }, { fourOctetAs: true }),
  encode({ type: 'notification', code: 6, subcode: 2, data: new Uint8Array([1, 2]) }, { fourOctetAs: true }),
  encode({ type: 'route-refresh', afi: 1, subtype: 0, safi: 1 }, { fourOctetAs: true }),
];

/** Decode must only ever return a message or a typed error, whatever the bytes. */
export function fuzz(iterations: number, seed = 0x5eed): { messages: number; errors: number } {
  const next = rng(seed);
  let messages = 0;
  let errors = 0;
  for (let i = 0; i < iterations; i++) {
    let b: Uint8Array;
    const mode = next() % 4;
    const base = SEEDS[next() % SEEDS.length] as Uint8Array;
    if (mode === 0) {
      // random bytes behind a valid marker and a plausible length
      const len = 19 + (next() % 80);
      b = new Uint8Array(len);
      for (let j = 0; j < len; j++) b[j] = next() & 0xff;
      b.fill(0xff, 0, 16);
      b[16] = len >> 8;
      b[17] = len & 0xff;
      b[18] = 1 + (next() % 5);
    } else {
      // mutations of a valid message: flip bytes, insert, delete, keeping the header length honest
      const arr = Array.from(base);
      const edits = 1 + (next() % 4);
      for (let e = 0; e < edits; e++) {
        const at = 19 + (next() % Math.max(1, arr.length - 19));
        const op = next() % 3;
        if (op === 0) arr[at] = next() & 0xff;
        else if (op === 1) arr.splice(at, 0, next() & 0xff);
        else if (arr.length > 19) arr.splice(at, 1);
      }
      if (mode !== 3) {
        arr[16] = (arr.length >> 8) & 0xff;
        arr[17] = arr.length & 0xff;
      }
      b = Uint8Array.from(arr);
    }
    const opts: CodecOptions = { fourOctetAs: (next() & 1) === 1 };
    const r = decode(b, opts);
    if (r.ok) {
      messages++;
      if (typeof r.message.type !== 'string') throw new Error('a message without a type');
    } else {
      errors++;
      if (!(r.error instanceof BgpDecodeError) || r.error.message.startsWith('internal decode error')) throw new Error(`input ${Buffer.from(b).toString('hex')}: ${r.error.message}`);
    }
  }
  return { messages, errors };
}

describe('BGP codec: fuzz', function () {
  this.timeout(300_000);
  it('1,000,000 random and mutated inputs: decode only ever returns a message or a typed error', () => {
    const { messages, errors } = fuzz(1_000_000);
    assert.equal(messages + errors, 1_000_000);
    assert.ok(messages > 10_000, `mutations should still decode often enough to reach deep code (${messages})`);
    assert.ok(errors > 10_000, `and fail often enough to reach the error paths (${errors})`);
  });
});
