import { FakeConfigFiles } from './files.js';
import { filesContract, modulesContract, sysctlContract } from './host-contract.test-support.js';
import { FakeKernelModules } from './modules.js';
import { FakeSysctl } from './sysctl.js';

sysctlContract('fake', () => {
  const sysctl = new FakeSysctl(new Set(['net.ipv4.no_such_key_krt']));
  return Promise.resolve({ sysctl, read: (k: string) => Promise.resolve(sysctl.values.get(k) ?? ''), close: () => Promise.resolve() });
});
modulesContract('fake', () => ({ modules: new FakeKernelModules(['nf_tables']), builtin: 'nf_tables' }));
filesContract('fake', () => Promise.resolve({ files: new FakeConfigFiles(), dir: '/etc/cni', close: () => Promise.resolve() }));
