import assert from 'node:assert/strict';
import { startInNetns } from '../test/ns-process.js';
import { KUBE_ROUTER_BIN } from '../test/paths.js';
import { throwawayNetns, type ThrowawayNetns } from '../test/throwaway-netns.js';
import type { IptablesVariant } from '../pkg/linux/iptables/types.js';
import { OWNED_NEXTHOP_IDS } from '../pkg/linux/netlink/types.js';

function stripCounters(save: string): string {
  return save
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
}

async function populate(ns: ThrowawayNetns, variant: IptablesVariant): Promise<void> {
  const run = (argv: string[], stdin?: string): Promise<unknown> => ns.exec.run(argv, stdin !== undefined ? { stdin } : {});
  // Another tool's objects.
  await run([`iptables-${variant}-restore`, '--noflush'], ['*filter', ':FOREIGN-FW - [0:0]', '-A FOREIGN-FW -s 198.18.9.0/24 -j DROP', '-A INPUT -j FOREIGN-FW', '-A FORWARD -m mark --mark 0x4000/0x4000 -j DROP', 'COMMIT', '*nat', ':FOREIGN-NAT - [0:0]', '-A FOREIGN-NAT -d 198.18.9.9/32 -p tcp -j DNAT --to-destination 198.18.9.10:80', '-A PREROUTING -j FOREIGN-NAT', 'COMMIT', ''].join('\n'));
  await run([`ip6tables-${variant}-restore`, '--noflush'], ['*filter', ':FOREIGN6 - [0:0]', '-A FOREIGN6 -s 2001:db8:9::/64 -j DROP', '-A INPUT -j FOREIGN6', 'COMMIT', ''].join('\n'));
  await run(['ipset', 'restore'], 'create foreign-set hash:ip family inet\nadd foreign-set 198.18.9.9\ncreate KUBE-FOREIGN hash:net family inet6\nadd KUBE-FOREIGN 2001:db8:9::/64\ncreate KRT-OTHER-TOOL hash:ip family inet\nadd KRT-OTHER-TOOL 198.18.9.8\n');
  // Names that only start like ours are not ours.
  await run(['ip', 'link', 'add', 'kr-foreign', 'type', 'bridge']);
  await run(['nft', '-f', '-'], 'add table inet foreign\nadd chain inet foreign c { type filter hook input priority 0 ; }\nadd rule inet foreign c ip saddr 198.18.9.9 drop\n');
  await run(['ip', 'link', 'add', 'foreign0', 'type', 'bridge']);
  await run(['ip', 'link', 'set', 'foreign0', 'up']);
  await run(['ip', 'addr', 'add', '198.18.9.1/24', 'dev', 'foreign0']);
  await run(['ip', 'route', 'add', '198.19.9.0/24', 'via', '198.18.9.2', 'proto', 'static']);
  // Nexthop objects: another tool's in our id range, and one of our protocol outside it, are not ours.
  await run(['ip', 'nexthop', 'add', 'id', String(OWNED_NEXTHOP_IDS.base + 5), 'via', '198.18.9.5', 'dev', 'foreign0', 'proto', 'static']);
  await run(['ip', 'nexthop', 'add', 'id', '17', 'via', '198.18.9.6', 'dev', 'foreign0', 'proto', '44']);
  // Ours.
  await run(['ip', 'nexthop', 'add', 'id', String(OWNED_NEXTHOP_IDS.base), 'via', '198.18.9.4', 'dev', 'foreign0', 'proto', '44']);
  await run(['ip', 'route', 'add', '198.19.11.0/24', 'nhid', String(OWNED_NEXTHOP_IDS.base), 'proto', '44']);
  await run([`iptables-${variant}-restore`, '--noflush'], ['*filter', ':KUBE-ROUTER-FORWARD - [0:0]', ':KUBE-ROUTER-INPUT - [0:0]', ':KUBE-POD-FW-ABC - [0:0]', '-A KUBE-ROUTER-FORWARD -j KUBE-POD-FW-ABC', '-I FORWARD 1 -m comment --comment "kube-router netpol" -j KUBE-ROUTER-FORWARD', '-I INPUT 1 -j KUBE-ROUTER-INPUT', 'COMMIT', '*nat', ':KUBE-ROUTER-POSTROUTING - [0:0]', '-A KUBE-ROUTER-POSTROUTING -s 198.18.64.0/24 -j MASQUERADE', '-A POSTROUTING -j KUBE-ROUTER-POSTROUTING', 'COMMIT', ''].join('\n'));
  await run(['ipset', 'restore'], 'create kube-router-pod-subnets hash:net family inet\nadd kube-router-pod-subnets 198.18.64.0/24\ncreate KUBE-SRC-ABCDEFGHIJKLMNOP hash:ip family inet\n');
  await run(['nft', '-f', '-'], 'add table ip kube-router-proxy\nadd chain ip kube-router-proxy svc\n');
  await run(['ip', 'link', 'add', 'kube-bridge', 'type', 'bridge']);
  await run(['ip', 'route', 'add', '198.19.10.0/24', 'via', '198.18.9.3', 'proto', '44']);
}

async function snapshot(ns: ThrowawayNetns, variant: IptablesVariant): Promise<Record<string, string>> {
  const out = async (argv: string[]): Promise<string> => (await ns.exec.run(argv)).stdout;
  return {
    filter: stripCounters(await out([`iptables-${variant}-save`, '-t', 'filter'])),
    nat: stripCounters(await out([`iptables-${variant}-save`, '-t', 'nat'])),
    filter6: stripCounters(await out([`ip6tables-${variant}-save`, '-t', 'filter'])),
    ipsets: (await out(['ipset', 'save'])).split('\n').filter((l) => !/kube-router|KUBE-SRC/.test(l)).join('\n'),
    nft: await out(['nft', 'list', 'table', 'inet', 'foreign']),
    links: (await out(['ip', '-br', 'link'])).split('\n').filter((l) => !l.startsWith('kube-bridge')).join('\n'),
    // link-local addresses appear asynchronously (after DAD): not what this test is about
    routes: (await out(['ip', 'route', 'show', 'table', 'all'])).split('\n').filter((l) => !l.includes('proto 44') && !l.includes('fe80')).join('\n'),
    nexthops: (await out(['ip', 'nexthop', 'show'])).split('\n').filter((l) => !l.startsWith(`id ${OWNED_NEXTHOP_IDS.base} `)).join('\n'),
  };
}

function withoutOurs(s: Record<string, string>): Record<string, string> {
  const drop = (text: string): string => text.split('\n').filter((l) => !/KUBE-ROUTER|KUBE-POD-FW/.test(l)).join('\n');
  return { ...s, filter: drop(s['filter'] ?? ''), nat: drop(s['nat'] ?? '') };
}

describe('--cleanup-config removes exactly what kube-router owns', function () {
  this.timeout(60_000);
  for (const variant of ['legacy', 'nft'] as IptablesVariant[]) {
    it(`iptables-${variant} host: our chains, sets, nft table, route and link go; foreign ones are untouched`, async () => {
      const ns = await throwawayNetns();
      try {
        await populate(ns, variant);
        const before = withoutOurs(await snapshot(ns, variant));
        const p = startInNetns(ns.name, ['node', KUBE_ROUTER_BIN, '--cleanup-config', '--enable-ipv6=true']);
        assert.equal(await p.exited, 0, p.output());
        assert.match(p.output(), new RegExp(`iptables backend detected variant=${variant}`));
        const after = await snapshot(ns, variant);
        assert.deepEqual(after, before);
        const all = (await ns.exec.run([`iptables-${variant}-save`])).stdout + (await ns.exec.run(['ipset', 'list', '-n'])).stdout + (await ns.exec.run(['nft', 'list', 'tables'])).stdout + (await ns.exec.run(['ip', 'link'])).stdout + (await ns.exec.run(['ip', 'route', 'show', 'table', 'all'])).stdout;
        assert.doesNotMatch(all, /KUBE-ROUTER|KUBE-POD-FW|kube-router-pod-subnets|KUBE-SRC-ABCDEFGHIJKLMNOP|kube-router-proxy|kube-bridge|proto 44/);
        assert.match(all, /FOREIGN-FW/);
        assert.match(all, /KRT-OTHER-TOOL/, 'a set that only starts like ours stays');
        assert.match(all, /kr-foreign/, 'a link that only starts like ours stays');
        const nexthops = (await ns.exec.run(['ip', 'nexthop', 'show'])).stdout;
        assert.doesNotMatch(nexthops, new RegExp(`id ${OWNED_NEXTHOP_IDS.base} `), 'our nexthop object went');
        assert.match(nexthops, new RegExp(`id ${OWNED_NEXTHOP_IDS.base + 5} via 198.18.9.5`), "another protocol's object in our id range stays");
        assert.match(nexthops, /id 17 via 198.18.9.6/, 'an object of our protocol outside our range stays');
      } finally {
        await ns.remove();
      }
    });
  }
});
