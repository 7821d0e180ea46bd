import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DIST } from './paths.js';

/**
 * Compares text with testdata/NAME; `UPDATE_GOLDEN=1` rewrites the file instead. Golden files are
 * never edited by hand.
 */
export function golden(name: string, actual: string): void {
  const file = resolve(DIST, '..', 'testdata', name);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `missing golden file testdata/${name}: run with UPDATE_GOLDEN=1`);
  assert.equal(actual, readFileSync(file, 'utf8'), `testdata/${name} differs (UPDATE_GOLDEN=1 to accept)`);
}
