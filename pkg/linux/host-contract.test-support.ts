import assert from 'node:assert/strict';
import type { ConfigFiles } from './files.js';
import type { KernelModules } from './modules.js';
import type { Sysctl } from './sysctl.js';

export interface SysctlSubject {
  readonly sysctl: Sysctl;
  /** Reads a key back the way the kernel shows it. */
  read(key: string): Promise<string>;
  close(): Promise<void>;
}

/** Behaviour every Sysctl must show, against the fake and `sysctl -w` in a throwaway netns. */
export function sysctlContract(label: string, make: () => Promise<SysctlSubject>): void {
  describe(`sysctl contract: ${label}`, function () {
    this.timeout(30_000);
    let s: SysctlSubject;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(async () => {
      await s.close();
    });

    it('sets every pair in one call', async () => {
      await s.sysctl.set([['net.ipv4.ip_forward', '1'], ['net.ipv6.conf.all.forwarding', '1']]);
      assert.equal(await s.read('net.ipv4.ip_forward'), '1');
      assert.equal(await s.read('net.ipv6.conf.all.forwarding'), '1');
      await s.sysctl.set([['net.ipv4.ip_forward', '0']]);
      assert.equal(await s.read('net.ipv4.ip_forward'), '0');
    });

    it('a key the kernel lacks rejects, and does not stop the others', async () => {
      await assert.rejects(s.sysctl.set([['net.ipv4.no_such_key_krt', '1'], ['net.ipv4.ip_forward', '1']]));
      assert.equal(await s.read('net.ipv4.ip_forward'), '1');
    });
  });
}

/** Behaviour every KernelModules must show. `builtin` is a module this kernel reports in /sys/module. */
export function modulesContract(label: string, make: () => { readonly modules: KernelModules; readonly builtin: string }): void {
  describe(`kernel modules contract: ${label}`, () => {
    it('reports a present module, not a missing one; loading a missing module is not an error', async () => {
      const { modules, builtin } = make();
      assert.equal(await modules.present(builtin), true);
      assert.equal(await modules.present('krt_no_such_module'), false);
      await modules.load(['krt_no_such_module']);
      assert.equal(await modules.present('krt_no_such_module'), false);
    });
  });
}

/** Behaviour every ConfigFiles must show, against the fake and the real file system in a temp folder. */
export function filesContract(label: string, make: () => Promise<{ readonly files: ConfigFiles; readonly dir: string; close(): Promise<void> }>): void {
  describe(`config files contract: ${label}`, () => {
    it('a missing file reads as undefined; a write creates its folder and replaces the file whole', async () => {
      const s = await make();
      try {
        const path = `${s.dir}/net.d/10-kuberouter.conflist`;
        assert.equal(await s.files.read(path), undefined);
        await s.files.write(path, '{"a":1}\n');
        assert.equal(await s.files.read(path), '{"a":1}\n');
        await s.files.write(path, '{"b":2}\n');
        assert.equal(await s.files.read(path), '{"b":2}\n');
        assert.equal(await s.files.read(`${path}.tmp`), undefined, 'no temporary file is left');
      } finally {
        await s.close();
      }
    });
  });
}
