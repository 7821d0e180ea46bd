import { rmSync } from 'node:fs';
import { addNetns, deleteNetns, listNetns } from '../pkg/linux/netns.js';
import { realExec } from '../pkg/linux/exec.js';
import { LAB_NETNS_PREFIX, netns, nodeDataIP, nodeIP, nodeIP6, segmentOf, type LabPlan } from './plan.js';
import { ipn, run, sysctl } from './sh.js';
import { labDir, labPids, loadState } from './state.js';
import { isAlive } from './processes.js';

const exec = realExec();

/** A veth from `ns` (named `ifname`) to the fabric bridge `br`. */
async function plug(plan: LabPlan, ns: string, ifname: string, peer: string, br: string, addrs: string[]): Promise<void> {
  const fab = netns.fabric(plan.name);
  await ipn(ns, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', peer, 'netns', fab);
  await ipn(fab, 'link', 'set', peer, 'master', br, 'up');
  for (const a of addrs) await ipn(ns, 'addr', 'add', a, 'dev', ifname, ...(a.includes(':') ? ['nodad'] : []));
  await ipn(ns, 'link', 'set', ifname, 'up');
}

/**
 * Builds the fabric: a bridge per segment in the fabric namespace; nodes, the API server namespace and
 * the external client on it; with two segments a router namespace joins them. The external namespace
 * plays the outside world (198.19.200.1) and is every node's default gateway, so nothing can leave
 * the lab's namespaces.
 */
export async function buildTopology(plan: LabPlan): Promise<void> {
  const fab = netns.fabric(plan.name);
  await addNetns(exec, fab);
  for (let s = 0; s < plan.segments.length; s++) {
    await ipn(fab, 'link', 'add', `br${s}`, 'type', 'bridge');
    await ipn(fab, 'link', 'set', `br${s}`, 'up');
  }
  if (plan.dataPrefix) {
    await ipn(fab, 'link', 'add', 'brdata', 'type', 'bridge');
    await ipn(fab, 'link', 'set', 'brdata', 'up');
  }
  const v6 = (host: string): string[] => (plan.ipv6 ? [`${host}/64`] : []);
  const api = netns.api(plan.name);
  await addNetns(exec, api);
  await plug(plan, api, 'eth0', 'v-api', 'br0', [`${plan.apiIP}/24`, ...v6('2001:db8::2')]);
  const ext = netns.external(plan.name);
  await addNetns(exec, ext);
  await plug(plan, ext, 'eth0', 'v-ext', 'br0', [`${plan.externalIP}/24`, ...v6('2001:db8::3')]);
  await ipn(ext, 'addr', 'add', '198.19.200.1/32', 'dev', 'lo');
  if (plan.subnets === 2) {
    const rtr = netns.router(plan.name);
    await addNetns(exec, rtr);
    await plug(plan, rtr, 'eth0', 'v-rtr0', 'br0', [`${plan.segments[0]?.gateway ?? ''}/24`]);
    await plug(plan, rtr, 'eth1', 'v-rtr1', 'br1', [`${plan.segments[1]?.gateway ?? ''}/24`]);
    await sysctl(rtr, 'net.ipv4.ip_forward', '1');
    await ipn(rtr, 'route', 'add', 'default', 'via', plan.externalIP);
    await ipn(ext, 'route', 'add', plan.segments[1]?.cidr ?? '', 'via', plan.segments[0]?.gateway ?? '');
    await ipn(api, 'route', 'add', plan.segments[1]?.cidr ?? '', 'via', plan.segments[0]?.gateway ?? '');
  }
  for (let i = 0; i < plan.nodes; i++) {
    const ns = netns.node(plan.name, i);
    const seg = segmentOf(plan, i);
    await addNetns(exec, ns);
    await plug(plan, ns, 'eth0', `v-n${i + 1}`, `br${seg}`, [`${nodeIP(plan, i)}/24`, ...v6(nodeIP6(i))]);
    await ipn(ns, 'route', 'add', 'default', 'via', seg === 0 ? plan.externalIP : (plan.segments[1]?.gateway ?? ''));
    // The other segment is behind the router (the external namespace, the default gateway, does not forward).
    if (seg === 0 && plan.segments[1]) await ipn(ns, 'route', 'add', plan.segments[1].cidr, 'via', plan.segments[0]?.gateway ?? '');
    const data = nodeDataIP(plan, i);
    if (data) await plug(plan, ns, 'eth1', `v-d${i + 1}`, 'brdata', [`${data}/24`]);
    await sysctl(ns, 'net.ipv4.ip_forward', '1');
    if (plan.ipv6) await sysctl(ns, 'net.ipv6.conf.all.forwarding', '1');
  }
}

/** Ends every process inside the lab's namespaces (by PID) and deletes the namespaces and state. */
export async function destroyLab(name: string): Promise<{ namespaces: number; processes: number }> {
  const prefix = `${LAB_NETNS_PREFIX}${name}-`;
  const st = loadState(name);
  const pids = new Set<number>();
  if (st) {
    for (const p of labPids(st)) pids.add(p);
  }
  const names = (await listNetns(exec)).filter((n) => n.startsWith(prefix));
  for (const n of names) {
    const out = await run('ip', 'netns', 'pids', n).catch(() => ({ stdout: '' }));
    for (const l of out.stdout.split('\n')) if (/^\d+$/.test(l.trim())) pids.add(Number(l.trim()));
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      pids.delete(pid);
    }
  }
  const end = Date.now() + 5000;
  while ([...pids].some(isAlive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  // kube-apiserver's graceful shutdown alone takes about 20 s: what has not stopped by now is killed.
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  const killed = Date.now() + 5000;
  while ([...pids].some(isAlive) && Date.now() < killed) await new Promise((r) => setTimeout(r, 50));
  for (const n of names) await deleteNetns(exec, n);
  rmSync(labDir(name), { recursive: true, force: true });
  return { namespaces: names.length, processes: pids.size };
}

