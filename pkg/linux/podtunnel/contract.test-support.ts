import assert from 'node:assert/strict';
import type { IP } from '../../util/ip.js';
import type { PodTunnels } from './types.js';

export interface PodTunnelSubject {
  readonly tunnels: PodTunnels;
  /** A process in a pod network namespace whose address is `podIP`. */
  readonly pid: number;
  readonly podIP: IP;
  /** A process id that does not exist. */
  readonly missingPid: number;
}

/** The behaviour the DSR pod side relies on, for the real adapter (in the VM) and the fake alike. */
export function podTunnelContract(name: string, setup: () => Promise<PodTunnelSubject>): void {
  describe(`pod tunnels contract: ${name}`, function () {
    this.timeout(60_000);
    let s: PodTunnelSubject;
    before(async () => {
      s = await setup();
    });

    it('a pod without a tunnel has no VIPs', async () => {
      assert.deepEqual(await s.tunnels.vips(s.pid), []);
    });

    it('ensure sets exactly the VIPs, idempotently, and with none removes the tunnel', async () => {
      const a = '198.19.0.5' as IP;
      const b = '198.19.0.6' as IP;
      await s.tunnels.ensure(s.pid, s.podIP, [a, b]);
      assert.deepEqual((await s.tunnels.vips(s.pid)).sort(), [a, b]);
      await s.tunnels.ensure(s.pid, s.podIP, [a, b]);
      assert.deepEqual((await s.tunnels.vips(s.pid)).sort(), [a, b]);
      await s.tunnels.ensure(s.pid, s.podIP, [b]);
      assert.deepEqual(await s.tunnels.vips(s.pid), [b]);
      await s.tunnels.ensure(s.pid, s.podIP, []);
      assert.deepEqual(await s.tunnels.vips(s.pid), []);
      await s.tunnels.ensure(s.pid, s.podIP, []);
    });

    it('a process that does not exist is an error', async () => {
      await assert.rejects(s.tunnels.ensure(s.missingPid, s.podIP, ['198.19.0.5' as IP]));
    });
  });
}
