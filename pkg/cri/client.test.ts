import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabContainerRuntime } from '../../lab/cri-runtime.js';
import { containerIdOf, criTarget, openCri } from './client.js';

describe('CRI client (real gRPC over a unix socket, against the lab runtime)', () => {
  let dir: string;
  let runtime: LabContainerRuntime;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'krt-cri-'));
    runtime = new LabContainerRuntime(join(dir, 'cri.sock'));
    runtime.setContainer('abc123', 4242);
    await runtime.start();
  });
  after(async () => {
    await runtime.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds a container process id through ContainerStatus (verbose)', async () => {
    const cri = openCri(`unix://${join(dir, 'cri.sock')}`);
    try {
      assert.equal(await cri.containerPid('abc123'), 4242);
      await assert.rejects(cri.containerPid('nope'), /not found/);
      assert.deepEqual(runtime.asked, ['abc123', 'nope']);
    } finally {
      cri.close();
    }
  });

  it('a socket nobody serves is an error within the deadline, not a hang', async () => {
    const cri = openCri(join(dir, 'absent.sock'));
    const t0 = Date.now();
    try {
      await assert.rejects(cri.containerPid('abc123'), /CRI ContainerStatus/);
      assert.ok(Date.now() - t0 < 8000);
    } finally {
      cri.close();
    }
  });

  it('endpoint and container id forms', () => {
    assert.equal(criTarget('unix:///run/containerd/containerd.sock'), 'unix:///run/containerd/containerd.sock');
    assert.equal(criTarget('/run/crio/crio.sock'), 'unix:///run/crio/crio.sock');
    assert.throws(() => criTarget('tcp://198.18.0.1:1234'), /only unix sockets/);
    assert.equal(containerIdOf('containerd://0123abcd'), '0123abcd');
    assert.equal(containerIdOf('0123abcd'), '0123abcd');
  });
});
