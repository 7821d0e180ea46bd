import { spawn } from 'node:child_process';
import { asArray, asRecord, asString } from '../pkg/util/json.js';

export const CNI_PATH = '/usr/lib/cni';

function runPlugin(nodeNs: string, type: string, env: Record<string, string>, conf: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', nodeNs, `${CNI_PATH}/${type}`], { env: { ...process.env, ...env, CNI_PATH } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      if (code === 0) resolve(out.trim() === '' ? {} : (JSON.parse(out) as unknown));
      else reject(new Error(`CNI ${type} ${env['CNI_COMMAND']} failed (${code}): ${out} ${err}`.trim()));
    });
    child.stdin.end(JSON.stringify(conf));
  });
}

/**
 * Runs a CNI config (a single-plugin `.conf` or a `.conflist`) for one pod namespace, as a container
 * runtime would: plugins in order with prevResult on ADD, in reverse on DEL. `dataDir` keeps
 * host-local's allocations per lab node (its default directory is shared by the whole machine).
 */
export async function cniRun(cmd: 'ADD' | 'DEL', nodeNs: string, confText: string, podNetnsPath: string, containerId: string, ifname: string, dataDir: string): Promise<string[]> {
  const conf = JSON.parse(confText) as Record<string, unknown>;
  const plugins = (Array.isArray(conf['plugins']) ? (conf['plugins'] as Record<string, unknown>[]) : [conf]).map((p): Record<string, unknown> => {
    const ipam = asRecord(p['ipam']);
    return { ...p, cniVersion: conf['cniVersion'], name: conf['name'], ...(ipam?.['type'] === 'host-local' ? { ipam: { ...ipam, dataDir } } : {}) };
  });
  const env = { CNI_COMMAND: cmd, CNI_CONTAINERID: containerId, CNI_NETNS: podNetnsPath, CNI_IFNAME: ifname };
  let prev: unknown;
  for (const p of cmd === 'ADD' ? plugins : [...plugins].reverse()) {
    const res = await runPlugin(nodeNs, asString(p['type']) ?? '', env, prev !== undefined ? { ...p, prevResult: prev } : p);
    if (cmd === 'ADD') prev = res;
  }
  return asArray(asRecord(prev)?.['ips']).map((i) => (asString(asRecord(i)?.['address']) ?? '').split('/')[0] ?? '').filter((x) => x !== '');
}

export async function loopbackUp(nodeNs: string, podNetnsPath: string, containerId: string): Promise<void> {
  await runPlugin(nodeNs, 'loopback', { CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: podNetnsPath, CNI_IFNAME: 'lo' }, { cniVersion: '0.3.1', name: 'lo', type: 'loopback' });
}
