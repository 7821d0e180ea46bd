import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeNftables } from './fake.js';
import { NftSession } from './session.js';

/**
 * A stand-in for `nft -i` that answers like nft but splits its error output the way a loaded machine
 * can: the caret line of every error comes in a separate chunk, a little later.
 */
const FAKE_NFT = `
const rl = require('readline').createInterface({ input: process.stdin });
let out = Promise.resolve();
const later = (ms) => new Promise((r) => setTimeout(r, ms));
rl.on('line', (line) => {
  const bad = line.startsWith('list table ip krt-sentinel') || line.includes('missing');
  if (!bad) return;
  // In order, like nft (one line at a time), but the caret line as a separate, later write.
  out = out.then(async () => {
    process.stderr.write('Error: No such file or directory\\n' + line + '\\n');
    await later(30);
    process.stderr.write('               ^^^^^^^^\\n');
  });
});
`;

describe('nft -i session: error attribution when nft answers in pieces', function () {
  this.timeout(20_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'krt-nfti-'));
    writeFileSync(join(dir, 'fake-nft.cjs'), FAKE_NFT);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a late caret line is not taken for the next transaction\'s error', async () => {
    // argv becomes: node fake-nft.cjs nft -i
    const s = new NftSession(new FakeNftables(), [process.execPath, join(dir, 'fake-nft.cjs')]);
    try {
      for (let i = 0; i < 20; i++) {
        if (i % 2 === 0) await assert.rejects(s.apply(`add element ip t missing { ${i} }\n`), /failed/);
        else await s.apply(`add element ip t s { ${i} }\n`);
      }
    } finally {
      s.close();
    }
  });
});
