import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assignFwmarks } from './dsr-marks.js';

describe('DSR firewall marks', () => {
  it('distinct, 14-bit, never 0, and the same whatever order the frontends come in', () => {
    const entry = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.constantFrom('tcp', 'udp'), fc.integer({ min: 1, max: 65535 })).map(([o, p, port]) => `198.19.0.${o},${p}:${port}`);
    fc.assert(
      fc.property(fc.uniqueArray(entry, { maxLength: 300 }), (entries) => {
        const a = assignFwmarks(entries);
        const b = assignFwmarks([...entries].reverse());
        assert.deepEqual([...a].sort(), [...b].sort());
        const marks = [...a.values()];
        assert.equal(new Set(marks).size, entries.length);
        for (const m of marks) assert.ok(m > 0 && m <= 0x3fff);
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it('FNV-1a of ip-proto-port in 14 bits, as upstream computes it', () => {
    // FNV-1a 32 of "198.19.0.5-tcp-8080", masked: computed independently here.
    let h = 0x811c9dc5;
    for (const c of Buffer.from('198.19.0.5-tcp-8080')) h = Math.imul(h ^ c, 0x01000193) >>> 0;
    assert.equal(assignFwmarks(['198.19.0.5,tcp:8080']).get('198.19.0.5,tcp:8080'), h & 0x3fff || 1);
  });
});
