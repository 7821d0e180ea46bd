/**
 * A throwaway network namespace per test (docs/testing.md): named `krt-t-<pid>-<n>`, removed in `after`
 * even when the test fails; a new run first removes leftovers of earlier runs of this process's kind.
 */
import { netnsExec, realExec, type Exec } from '../pkg/linux/exec.js';
import { addNetns, deleteNetns, listNetns } from '../pkg/linux/netns.js';

export const TEST_NETNS_PREFIX = 'krt-t-';
let seq = 0; // counter for names within this test process only

export interface ThrowawayNetns {
  readonly name: string;
  /** Runs tools inside the namespace. */
  readonly exec: Exec;
  remove(): Promise<void>;
}

export async function throwawayNetns(): Promise<ThrowawayNetns> {
  const host = realExec();
  const name = `${TEST_NETNS_PREFIX}${process.pid}-${++seq}`;
  await addNetns(host, name);
  return { name, exec: netnsExec(host, name), remove: () => deleteNetns(host, name) };
}

/** Leftovers of crashed runs: namespaces with our prefix whose owning process is gone. */
export async function removeStaleTestNetns(): Promise<number> {
  const host = realExec();
  let removed = 0;
  for (const n of await listNetns(host)) {
    const m = /^krt-t-(\d+)-/.exec(n);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      await deleteNetns(host, n);
      removed++;
    }
  }
  return removed;
}
