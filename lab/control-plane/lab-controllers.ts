#!/usr/bin/env node
/**
 * The lab's long-running stand-in for each node's kubelet heartbeat: its Lease every 10 s and its
 * Ready condition every 60 s, with the node's own credentials. (LoadBalancer addresses come from
 * kube-router's own allocator, `--run-loadbalancer`.) Run in the lab's API namespace by `lab up`.
 *   node dist/lab/control-plane/lab-controllers.js --dir LABDIR --nodes node-1,node-2
 */
import { adminClient, nodeCredentials } from './kubernetes.js';
import { heartbeat, renewLease } from './kubelet.js';
import { errorMessage } from '../../pkg/util/errors.js';

const args = process.argv.slice(2);
const opt = (n: string): string => (args.includes(n) ? (args[args.indexOf(n) + 1] ?? '') : '');
const dir = opt('--dir');
const nodes = opt('--nodes').split(',').filter((n) => n !== '');

const admin = await adminClient(dir);
const asNode = new Map(await Promise.all(nodes.map(async (n) => { const c = await nodeCredentials(dir, n); return [n, admin.as(c.cert, c.key)] as const; })));
const log = (m: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${m}\n`);
};

let beats = 0;
const kubelets = async (): Promise<void> => {
  const now = new Date();
  for (const [n, c] of asNode) {
    await renewLease(c, n, now).catch((e: unknown) => log(`${n}: lease: ${errorMessage(e)}`));
    if (beats % 6 === 0) await heartbeat(c, n, now).catch((e: unknown) => log(`${n}: heartbeat: ${errorMessage(e)}`));
  }
  beats++;
};
const timers = [setInterval(() => void kubelets(), 10_000)];
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  for (const t of timers) clearInterval(t);
  process.exit(0);
});
