import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResolvedKubeConfig } from './resolved-kubeconfig.js';

describe('k8s: credentials refreshed after a 401', function () {
  this.timeout(30_000);
  it('in the background: refresh() returns at once (it used to block the event loop on a child for up to 60 s) and the new settings arrive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krt-kc-'));
    try {
      const file = join(dir, 'kubeconfig');
      const write = (server: string): void => writeFileSync(file, ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: c', '  cluster:', `    server: ${server}`, '    insecure-skip-tls-verify: true', 'users:', '- name: u', '  user: {token: t}', 'contexts:', '- name: x', '  context: {cluster: c, user: u}', 'current-context: x', ''].join('\n'));
      write('http://198.18.0.2:6443');
      const kc = new ResolvedKubeConfig({ kubeconfig: file, master: '' });
      assert.equal(kc.getCurrentCluster().server, 'http://198.18.0.2:6443');
      write('http://198.18.0.3:6443');
      const t0 = performance.now();
      kc.refresh();
      assert.ok(performance.now() - t0 < 50, `refresh() took ${Math.round(performance.now() - t0)} ms`);
      const end = Date.now() + 20_000;
      while (kc.getCurrentCluster().server !== 'http://198.18.0.3:6443') {
        if (Date.now() > end) assert.fail('the refreshed settings never arrived');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
