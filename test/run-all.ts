/**
 * Runs every compiled test file under dist/ with mocha and closes with one line CI counts:
 * `N passed, N failed, N skipped`. Exit status 1 on any failure.
 *
 *   node dist/test/run-all.js [--suite unit|kernel|lab|all] [--grep TEXT]
 *
 * Suites by file name: `*.test.js` unit (no privileges), `*.kernel.test.js` real tools in throwaway
 * network namespaces (root), `*.lab.test.js` whole-cluster tests in the lab (root).
 */
import Mocha from 'mocha';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = resolve(fileURLToPath(import.meta.url), '../..');

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'node_modules') walk(p, out);
    } else if (name.endsWith('.test.js')) out.push(p);
  }
}

function suiteOf(file: string): 'unit' | 'kernel' | 'lab' {
  if (file.endsWith('.kernel.test.js')) return 'kernel';
  if (file.endsWith('.lab.test.js')) return 'lab';
  return 'unit';
}

const args = process.argv.slice(2);
const suite = args[args.indexOf('--suite') + 1] && args.includes('--suite') ? (args[args.indexOf('--suite') + 1] as string) : 'all';
const grep = args.includes('--grep') ? args[args.indexOf('--grep') + 1] : undefined;

const files: string[] = [];
walk(dist, files);
files.sort();
const mocha = new Mocha({ timeout: 60_000, reporter: 'spec', ...(grep ? { grep } : {}) });
for (const f of files) if (suite === 'all' || suiteOf(f) === suite) mocha.addFile(f);

// A new run first removes what crashed earlier runs left behind (TESTING.md).
if (process.getuid?.() === 0 && suite !== 'unit') {
  const { removeStaleTestNetns } = await import('./throwaway-netns.js');
  const n = await removeStaleTestNetns();
  if (n > 0) process.stdout.write(`removed ${n} namespace(s) left by earlier crashed runs\n`);
}
await mocha.loadFilesAsync();
let passed = 0;
let failed = 0;
let skipped = 0;
const runner = mocha.run();
runner.on('pass', () => passed++);
runner.on('fail', () => failed++);
runner.on('pending', () => skipped++);
runner.on('end', () => {
  process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  // Like `mocha --exit`: a handle a failed test left open must not hang CI.
  setTimeout(() => process.exit(failed > 0 ? 1 : 0), 100);
});
