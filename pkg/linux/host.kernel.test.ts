import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { throwawayNetns } from '../../test/throwaway-netns.js';
import { realExec } from './exec.js';
import { RealConfigFiles } from './files.js';
import { filesContract, modulesContract, sysctlContract } from './host-contract.test-support.js';
import { RealKernelModules } from './modules.js';
import { RealSysctl } from './sysctl.js';

// Per-namespace keys only (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding): the host is never touched.
sysctlContract('sysctl -w in a netns', async () => {
  const ns = await throwawayNetns();
  return {
    sysctl: new RealSysctl(ns.exec),
    read: async (k: string) => (await ns.exec.run(['sysctl', '-n', k])).stdout.trim(),
    close: () => ns.remove(),
  };
});
// This kernel has no loadable modules; /sys/module/kernel (built-in parameters) is always there.
modulesContract('modprobe and /sys/module', () => ({ modules: new RealKernelModules(realExec()), builtin: 'kernel' }));
filesContract('the file system', () => {
  const dir = mkdtempSync(join(tmpdir(), 'krt-files-'));
  return Promise.resolve({ files: new RealConfigFiles(), dir, close: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })) });
});
