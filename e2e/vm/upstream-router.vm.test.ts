/**
 * Upstream kube-router's tunnels on a kernel that has ipip (the VM): the in-place migration removes its
 * `tun-` tunnels (and the routes through them) and nothing that only looks like them; --cleanup-config
 * removes them too.
 */
import assert from 'node:assert/strict';
import { cleanupNetlink } from '../../pkg/linux/cleanup.js';
import { netnsExec, realExec } from '../../pkg/linux/exec.js';
import { RealNetlink } from '../../pkg/linux/netlink/real.js';
import { addNetns, deleteNetns } from '../../pkg/linux/netns.js';
import { runUpstreamMigration } from '../../pkg/routing/migrate-upstream.js';
import type { CIDR } from '../../pkg/util/ip.js';
import { memoryLogger } from '../../pkg/util/logger.js';

const sh = realExec();

describe("upstream kube-router's router tunnels (VM, real ipip)", function () {
  this.timeout(120_000);
  const N = `krt-t-${process.pid}-up`;
  const e = netnsExec(sh, N);
  const links = async (): Promise<string> => (await e.run(['ip', '-o', 'link', 'show'])).stdout;
  const upstreamTunnel = async (): Promise<void> => {
    await e.run(['ip', 'link', 'add', 'tun-0123456789a', 'type', 'ipip', 'local', '198.18.0.10', 'remote', '198.18.0.11']);
    await e.run(['ip', 'link', 'set', 'tun-0123456789a', 'up']);
    await e.run(['ip', 'route', 'add', '198.18.65.0/24', 'dev', 'tun-0123456789a', 'proto', '17', 'src', '198.18.0.10']);
    await e.run(['ip', 'route', 'add', '198.18.0.11/32', 'dev', 'tun-0123456789a', 'table', '77']);
  };

  before(async () => {
    await addNetns(sh, N);
    await e.run(['ip', 'link', 'set', 'lo', 'up']);
    await e.run(['ip', 'link', 'add', 'eth0', 'type', 'dummy']);
    await e.run(['ip', 'addr', 'add', '198.18.0.10/24', 'dev', 'eth0']);
    await e.run(['ip', 'link', 'set', 'eth0', 'up']);
    await upstreamTunnel();
    // Look-alikes that are not upstream's: another tool's ipip tunnel, a `tun-` link of another kind.
    await e.run(['ip', 'link', 'add', 'tun0', 'type', 'ipip', 'local', '198.18.0.10', 'remote', '198.18.0.12']);
    await e.run(['ip', 'link', 'add', 'tun-abc', 'type', 'dummy']);
  });
  after(async () => {
    await deleteNetns(sh, N).catch(() => undefined);
  });

  it('the migration removes its tunnels and the routes through them; look-alikes stay', async () => {
    const { logger, lines } = memoryLogger(2);
    const removed = await runUpstreamMigration({ netlink: new RealNetlink(e), iptables: {}, logger }, [4], ['198.18.64.0/24', '198.18.65.0/24'] as CIDR[]);
    assert.deepEqual(removed, ['link tun-0123456789a'], lines.join('\n'));
    const after = await links();
    assert.ok(!after.includes('tun-0123456789a'), after);
    assert.ok(after.includes('tun0') && after.includes('tun-abc'), after);
    assert.doesNotMatch((await e.run(['ip', 'route', 'show', 'table', 'all'])).stdout, /tun-0123456789a|198\.18\.65\.0/);
  });

  it('--cleanup-config removes them too', async () => {
    await upstreamTunnel();
    await cleanupNetlink(new RealNetlink(e));
    const after = await links();
    assert.ok(!after.includes('tun-0123456789a'), after);
    assert.ok(after.includes('tun0') && after.includes('tun-abc'), after);
  });
});
