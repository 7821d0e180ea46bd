#!/usr/bin/env node
/**
 * The lab's long-running stand-ins for what runs beside a real control plane: each node's kubelet
 * heartbeat (its Lease every 10 s, its Ready condition every 60 s, with the node's own credentials)
 * and a cloud provider's load-balancer controller (type LoadBalancer Services get an address from
 * the lab's range in their status). Run in the lab's API namespace by `lab up --control-plane kubernetes`.
 *   node dist/lab/control-plane/lab-controllers.js --dir LABDIR --nodes node-1,node-2 --lb-range CIDR
 */
import { adminClient, nodeCredentials } from './kubernetes.js';
import { heartbeat, renewLease } from './kubelet.js';
import { assignLoadBalancerIPs } from './load-balancer-stand-in.js';
import { errorMessage } from '../../pkg/util/errors.js';

const args = process.argv.slice(2);
const opt = (n: string): string => (args.includes(n) ? (args[args.indexOf(n) + 1] ?? '') : '');
const dir = opt('--dir');
const nodes = opt('--nodes').split(',').filter((n) => n !== '');
const lbRange = opt('--lb-range');

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
const loadBalancers = async (): Promise<void> => {
  const done = await assignLoadBalancerIPs(admin, lbRange).catch((e: unknown) => {
    log(`load balancers: ${errorMessage(e)}`);
    return [];
  });
  for (const d of done) log(`load balancer ${d}`);
};

const timers = [setInterval(() => void kubelets(), 10_000), setInterval(() => void loadBalancers(), 500)];
await loadBalancers();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  for (const t of timers) clearInterval(t);
  process.exit(0);
});
