/**
 * Test labs are named after their process (`lp12345`), so two test runs on one machine never touch
 * each other's lab; leftovers of crashed runs (a dead PID in the name) are removed by prefix.
 */
import { listNetns } from '../pkg/linux/netns.js';
import { realExec } from '../pkg/linux/exec.js';
import { LAB_NETNS_PREFIX } from '../lab/plan.js';
import { destroyLab } from '../lab/topology.js';
import { isAlive } from '../lab/processes.js';

export function testLabName(base: string): string {
  return `${base}${process.pid}`;
}

export async function removeStaleTestLabs(base: string): Promise<void> {
  const re = new RegExp(`^${LAB_NETNS_PREFIX}(${base}(\\d+))-`);
  const stale = new Set<string>();
  for (const n of await listNetns(realExec())) {
    const m = re.exec(n);
    if (m && !isAlive(Number(m[2]))) stale.add(m[1] as string);
  }
  for (const lab of stale) await destroyLab(lab);
}
