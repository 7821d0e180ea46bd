import type { KernelAdapters } from './adapters.js';
import type { Exec } from './exec.js';
import { FakeConfigFiles } from './files.js';
import { FakeIpset } from './ipset/fake.js';
import { FakeIptables } from './iptables/fake.js';
import { FakeKernelModules } from './modules.js';
import { FakeNetlink } from './netlink/fake.js';
import { FakeNftables } from './nftables/fake.js';
import { FakeSysctl } from './sysctl.js';

/** An exec for code that must not run processes: every call fails, naming the command. */
export const refusingExec: Exec = { run: (argv) => Promise.reject(new Error(`no process may be started here: ${argv.join(' ')}`)) };

/** Every kernel adapter as its fake (each a real export with the adapter's interface); `parts` replace single ones. */
export function fakeKernel(parts: Partial<KernelAdapters> = {}): KernelAdapters {
  return {
    exec: refusingExec,
    iptables: { 4: new FakeIptables(4), 6: new FakeIptables(6) },
    ipset: new FakeIpset(),
    nft: new FakeNftables(),
    netlink: new FakeNetlink(),
    sysctl: new FakeSysctl(),
    modules: new FakeKernelModules(),
    files: new FakeConfigFiles(),
    ...parts,
  };
}
