/**
 * ipip and FoU tunnels (this machine's kernel has neither; the VM's has both): our tunnel ops, applied
 * through the real netlink adapter in two node namespaces, carry real packets between pod addresses
 * that have no other path.
 */
import assert from 'node:assert/strict';
import { netnsExec, realExec } from '../../pkg/linux/exec.js';
import { RealNetlink } from '../../pkg/linux/netlink/real.js';
import { KUBE_ROUTER_RT_PROTO } from '../../pkg/linux/netlink/types.js';
import { addNetns, deleteNetns } from '../../pkg/linux/netns.js';
import type { CIDR, IP } from '../../pkg/util/ip.js';
import { tunnelName, tunnelOps, type TunnelEncap } from '../../pkg/routing/overlay.js';

const sh = realExec();
const ip = (s: string): IP => s as IP;

describe('overlay encapsulations on a kernel that has them (VM): ipip and fou with real packets', function () {
  this.timeout(120_000);
  const A = `krt-t-${process.pid}-ova`;
  const B = `krt-t-${process.pid}-ovb`;
  const node = { [A]: { ip: ip('198.18.0.1'), pod: '198.18.64.1', cidr: '198.18.64.0/24' }, [B]: { ip: ip('198.18.0.2'), pod: '198.18.65.1', cidr: '198.18.65.0/24' } };
  const other = (n: string): string => (n === A ? B : A);

  before(async () => {
    for (const n of [A, B]) await addNetns(sh, n);
    await sh.run(['ip', '-n', A, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', B]);
    for (const n of [A, B]) {
      const e = netnsExec(sh, n);
      await e.run(['ip', 'link', 'set', 'lo', 'up']);
      await e.run(['ip', 'addr', 'add', `${node[n]?.ip ?? ''}/24`, 'dev', 'eth0']);
      await e.run(['ip', 'link', 'set', 'eth0', 'up']);
      // A pod address with no route anywhere but through the tunnel.
      await e.run(['ip', 'link', 'add', 'pods', 'type', 'dummy']);
      await e.run(['ip', 'addr', 'add', `${node[n]?.pod ?? ''}/32`, 'dev', 'pods']);
      await e.run(['ip', 'link', 'set', 'pods', 'up']);
    }
  });
  after(async () => {
    for (const n of [A, B]) await deleteNetns(sh, n).catch(() => undefined);
  });

  const ping = (from: string): Promise<boolean> =>
    netnsExec(sh, from)
      .run(['/bin/busybox', 'ping', '-c', '1', '-W', '3', '-I', node[from]?.pod ?? '', node[other(from)]?.pod ?? ''])
      .then(
        () => true,
        () => false,
      );

  for (const encap of [{ kind: 'ipip' }, { kind: 'fou', port: 5555 }] as TunnelEncap[]) {
    it(`${encap.kind}: pods on two nodes reach each other only through our tunnel`, async () => {
      // As the daemon does at start where modules can be loaded (the FoU netlink family is a module).
      for (const m of ['ipip', 'fou']) await sh.run(['modprobe', m]).catch(() => undefined);
      assert.equal(await ping(A), false, 'no path before the tunnel');
      for (const n of [A, B]) {
        const nl = new RealNetlink(netnsExec(sh, n));
        const me = node[n];
        const peer = node[other(n)];
        assert.ok(me && peer);
        const ops = tunnelOps({ 4: { ip: me.ip, dev: 'eth0' } }, [peer.ip], await nl.links(), encap);
        await nl.apply(ops);
        await nl.apply([{ op: 'route-replace', route: { dst: peer.cidr as CIDR, gateway: peer.ip, dev: tunnelName(peer.ip), onlink: true, table: 254, protocol: KUBE_ROUTER_RT_PROTO, src: ip(me.pod) } }]);
        const link = (await nl.links()).find((l) => l.name === tunnelName(peer.ip));
        assert.equal(link?.kind, 'ipip');
        const details = (await netnsExec(sh, n).run(['ip', '-d', 'link', 'show', tunnelName(peer.ip)])).stdout;
        if (encap.kind === 'fou') assert.match(details, /encap gue/, details);
        else assert.doesNotMatch(details, /encap (gue|fou)/, details);
      }
      assert.equal(await ping(A), true, 'A → B through the tunnel');
      assert.equal(await ping(B), true, 'B → A through the tunnel');
      // Tunnels of a node that left are removed (only ours: the dummy stays).
      for (const n of [A, B]) {
        const nl = new RealNetlink(netnsExec(sh, n));
        await nl.apply(tunnelOps({ 4: { ip: node[n]?.ip ?? ip('') } }, [], await nl.links(), encap));
        const names = (await nl.links()).map((l) => l.name);
        assert.ok(!names.some((x) => x.startsWith('kr-')) && names.includes('pods'), names.join());
      }
      assert.equal(await ping(A), false, 'no path once the tunnel is gone');
    });
  }
});
