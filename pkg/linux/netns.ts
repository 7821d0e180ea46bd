import type { Exec } from './exec.js';

/** Network namespaces by name (`ip netns`): the lab's nodes and the tests' throwaway hosts. */
export async function listNetns(exec: Exec): Promise<string[]> {
  const out = (await exec.run(['ip', 'netns', 'list'])).stdout;
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

export async function addNetns(exec: Exec, name: string): Promise<void> {
  await exec.run(['ip', 'netns', 'add', name]);
  await exec.run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

export async function deleteNetns(exec: Exec, name: string): Promise<void> {
  await exec.run(['ip', 'netns', 'delete', name]).catch(() => undefined);
}

