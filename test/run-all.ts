/**
 * Runs every compiled test file under dist/ with mocha and closes with one line CI counts:
 * `N passed, N failed, N skipped`. Exit status 1 on any failure.
 *
 *   node dist/test/run-all.js [--suite unit|kernel|lab|vm|all] [--grep TEXT]
 *
 * Suites by file name: `*.test.js` unit (no privileges), `*.kernel.test.js` real tools in throwaway
 * network namespaces (root), `*.lab.test.js` whole-cluster tests in the lab (root), `*.vm.test.js`
 * what this kernel lacks (IPVS, ipip, fou), run inside a VM with Debian's kernel (test/vm/vm.ts).
 * `all` (the default) runs the first three here, then boots the VM for the fourth, and counts both.
 */
import Mocha from 'mocha';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

type Suite = 'unit' | 'kernel' | 'lab' | 'vm';
const dist = resolve(fileURLToPath(import.meta.url), '../..');

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'node_modules') walk(p, out);
    } else if (name.endsWith('.test.js')) out.push(p);
  }
}

function suiteOf(file: string): Suite {
  if (file.endsWith('.kernel.test.js')) return 'kernel';
  if (file.endsWith('.lab.test.js')) return 'lab';
  if (file.endsWith('.vm.test.js')) return 'vm';
  return 'unit';
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

const args = process.argv.slice(2);
const suite = args.includes('--suite') ? (args[args.indexOf('--suite') + 1] ?? 'all') : 'all';
const grep = args.includes('--grep') ? args[args.indexOf('--grep') + 1] : undefined;
const inVm = process.env['KRT_IN_VM'] === '1';

async function runMocha(suites: readonly Suite[]): Promise<Counts> {
  const files: string[] = [];
  walk(dist, files);
  files.sort();
  const mocha = new Mocha({ timeout: 60_000, reporter: 'spec', ...(grep ? { grep } : {}) });
  let n = 0;
  for (const f of files) {
    if (suites.includes(suiteOf(f))) {
      mocha.addFile(f);
      n++;
    }
  }
  const counts: Counts = { passed: 0, failed: 0, skipped: 0 };
  if (n === 0) return counts;
  // A new run first removes what crashed earlier runs left behind (docs/testing.md).
  if (process.getuid?.() === 0 && suites.some((s) => s !== 'unit')) {
    const { removeStaleTestNetns } = await import('./throwaway-netns.js');
    const removed = await removeStaleTestNetns();
    if (removed > 0) process.stdout.write(`removed ${removed} namespace(s) left by earlier crashed runs\n`);
  }
  await mocha.loadFilesAsync();
  await new Promise<void>((done) => {
    const runner = mocha.run();
    runner.on('pass', () => counts.passed++);
    runner.on('fail', () => counts.failed++);
    runner.on('pending', () => counts.skipped++);
    runner.on('end', () => done());
  });
  return counts;
}

/** Boots the VM and runs the vm suite in it; its closing line is parsed back into counts. */
async function runVmSuite(): Promise<Counts> {
  const { runInVm } = await import('./vm/vm.js');
  process.stdout.write('\n== VM suite (Debian kernel under QEMU: IPVS, ipip, fou)\n');
  const guestArgs = ['--suite', 'vm', ...(grep ? ['--grep', grep] : [])].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const job = `set -e\ncd '${resolve(dist, '..')}'\nKRT_IN_VM=1 node dist/test/run-all.js ${guestArgs}\n`;
  try {
    const r = await runInVm({ job, timeoutMs: 20 * 60_000, onLog: (s) => process.stdout.write(s) });
    const m = /(\d+) passed, (\d+) failed, (\d+) skipped\s*$/.exec(r.log);
    if (!m || r.rc === undefined) {
      process.stdout.write(`the VM suite did not finish (rc ${String(r.rc)}); console tail:\n${r.console.slice(-4000)}\n`);
      return { passed: Number(m?.[1] ?? 0), failed: Number(m?.[2] ?? 0) + 1, skipped: Number(m?.[3] ?? 0) };
    }
    return { passed: Number(m[1]), failed: Number(m[2]) + (r.rc !== 0 && Number(m[2]) === 0 ? 1 : 0), skipped: Number(m[3]) };
  } catch (e) {
    process.stdout.write(`the VM suite could not start: ${e instanceof Error ? e.message : String(e)}\n`);
    return { passed: 0, failed: 1, skipped: 0 };
  }
}

const total: Counts = { passed: 0, failed: 0, skipped: 0 };
const add = (c: Counts): void => {
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
};
if (suite === 'vm') add(inVm ? await runMocha(['vm']) : await runVmSuite());
else if (suite === 'all') {
  add(await runMocha(['unit', 'kernel', 'lab']));
  if (process.getuid?.() === 0) add(await runVmSuite());
} else add(await runMocha([suite as Suite]));
process.stdout.write(`\n== tests took ${Math.round(process.uptime())} s\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
// Like `mocha --exit`: a handle a failed test left open must not hang CI.
setTimeout(() => process.exit(total.failed > 0 ? 1 : 0), 100);
