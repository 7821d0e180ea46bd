/**
 * The CNI config we write, run by the real bridge, host-local, portmap and loopback plugins as a
 * container runtime would, in throwaway namespaces: IPv4 and dual-stack, `.conf` and `.conflist`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cniRun, loopbackUp } from '../../lab/cni.js';
import { netnsExec, realExec } from '../linux/exec.js';
import { addNetns, deleteNetns } from '../linux/netns.js';
import type { CIDR } from '../util/ip.js';
import { DEFAULT_CNI_CONF, updateCniConf } from './cni-config.js';

const sh = realExec();
const CONFLIST = { cniVersion: '0.4.0', name: 'kubernetes', plugins: [{ type: 'bridge', bridge: 'kube-bridge', isDefaultGateway: true, hairpinMode: true, ipam: { type: 'host-local' }, extraFieldWeDoNotKnow: 7 }, { type: 'portmap', capabilities: { portMappings: true }, snat: true }] };

describe('CNI config accepted by the real plugins (bridge, host-local, portmap)', function () {
  this.timeout(60_000);
  let seq = 0;
  const cases: [string, object, CIDR[]][] = [
    ['.conf, IPv4', DEFAULT_CNI_CONF, ['198.18.70.0/24' as CIDR]],
    ['.conf, dual-stack', DEFAULT_CNI_CONF, ['198.18.71.0/24' as CIDR, '2001:db8:71::/64' as CIDR]],
    ['.conflist with portmap, dual-stack', CONFLIST, ['198.18.72.0/24' as CIDR, '2001:db8:72::/64' as CIDR]],
  ];
  for (const [label, template, cidrs] of cases) {
    it(label, async () => {
      const node = `krt-t-${process.pid}-cn${++seq}`;
      const pod = `${node}-pod`;
      const dataDir = mkdtempSync(join(tmpdir(), 'krt-cni-'));
      await addNetns(sh, node);
      await addNetns(sh, pod);
      try {
        const update = updateCniConf(JSON.stringify(template), cidrs, 1450);
        assert.equal(update.kind, 'ok');
        if (update.kind !== 'ok') return;
        const conf = JSON.parse(update.text) as Record<string, unknown>;
        if ('plugins' in conf) assert.equal((conf['plugins'] as Record<string, unknown>[])[0]?.['extraFieldWeDoNotKnow'], 7, 'fields we do not know are kept');
        await loopbackUp(node, `/run/netns/${pod}`, 'c1');
        const ips = await cniRun('ADD', node, update.text, `/run/netns/${pod}`, 'c1', 'eth0', dataDir);
        assert.equal(ips.length, cidrs.length, `one address per pod range: ${ips.join()}`);
        const p = netnsExec(sh, pod);
        const addrs = JSON.parse((await p.run(['ip', '-j', 'addr', 'show', 'dev', 'eth0'])).stdout) as { mtu: number; addr_info: { local: string; family: string; scope: string }[] }[];
        const global = (addrs[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => a.local);
        assert.ok(global.some((a) => a.startsWith(cidrs[0]?.split('.').slice(0, 3).join('.') ?? 'x')), global.join());
        if (cidrs[1]) assert.ok(global.some((a) => a.startsWith('2001:db8:')), `an IPv6 address from ${cidrs[1]}: ${global.join()}`);
        assert.equal(addrs[0]?.mtu, 1450, 'the MTU we set');
        const gw4 = cidrs[0]?.replace(/\.0\/24$/, '.1') ?? '';
        assert.match((await p.run(['ip', 'route', 'show', 'default'])).stdout, new RegExp(`default via ${gw4.replace(/\./g, '\\.')}`));
        // Real packets to the bridge, the pod's gateway.
        await p.run(['/bin/busybox', 'ping', '-c', '1', '-W', '2', gw4]);
        if (cidrs[1]) {
          const gw6 = cidrs[1].replace(/::\/64$/, '::1');
          for (let i = 0; i < 30; i++) {
            const ok = await p.run(['/bin/busybox', 'ping6', '-c', '1', '-W', '1', gw6]).then(
              () => true,
              () => false,
            );
            if (ok) break;
            if (i === 29) assert.fail(`no IPv6 answer from ${gw6}`);
          }
        }
        const n = netnsExec(sh, node);
        const veth = JSON.parse((await n.run(['ip', '-j', 'link', 'show', 'master', 'kube-bridge'])).stdout) as { ifname: string }[];
        assert.equal(veth.length, 1);
        assert.equal((await n.run(['cat', `/sys/class/net/${veth[0]?.ifname ?? ''}/brport/hairpin_mode`])).stdout.trim(), '1', 'hairpinMode');
        await cniRun('DEL', node, update.text, `/run/netns/${pod}`, 'c1', 'eth0', dataDir);
        assert.equal((JSON.parse((await n.run(['ip', '-j', 'link', 'show', 'master', 'kube-bridge'])).stdout) as unknown[]).length, 0, 'DEL removes the pod interface');
      } finally {
        await deleteNetns(sh, pod).catch(() => undefined);
        await deleteNetns(sh, node).catch(() => undefined);
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});
