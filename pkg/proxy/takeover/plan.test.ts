import assert from 'node:assert/strict';
import { parseSave } from '../../linux/iptables/save.js';
import type { IptablesTable } from '../../linux/iptables/types.js';
import { jumpRules } from '../ipvs/desired.js';
import { isKubeProxyChain, isKubeProxyIpset, isUpstreamMasquerade, planTakeover, type NodeProxyState } from './plan.js';

const saved = (table: IptablesTable, text: string): NodeProxyState['iptables'][number] => ({ family: 4, table, saved: parseSave(text) });

/** A node that ran kube-proxy (iptables mode) and upstream kube-router (IPVS), with the kubelet's own chains. */
function node(): NodeProxyState {
  const ours = jumpRules(4);
  return {
    nftTables: [{ family: 'ip', name: 'kube-proxy' }, { family: 'ip6', name: 'kube-proxy' }, { family: 'ip', name: 'kube-router-proxy' }, { family: 'inet', name: 'kube-proxy' }, { family: 'ip', name: 'nat' }],
    iptables: [
      saved('nat', [
        ':PREROUTING ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-MARK-DROP - [0:0]', ':KUBE-ROUTER-HAIRPIN - [0:0]', ':OTHER - [0:0]',
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "" -j SNAT --to-source 198.18.0.11 --random-fully',
        '-A POSTROUTING -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "" ! -s 198.18.64.0/24 ! -d 198.18.64.0/24 -j MASQUERADE',
        '-A POSTROUTING -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "someone else" -j MASQUERADE',
        '-A POSTROUTING -m ipvs --vdir ORIGINAL -j KUBE-ROUTER-HAIRPIN',
        `-A POSTROUTING ${ours.natHairpin}`,
        '-A KUBE-SERVICES -j KUBE-SVC-ABCDEFGHIJKLMNOP',
        '-A OTHER -j KUBE-MARK-DROP',
        'COMMIT',
      ].join('\n')),
      saved('filter', [
        ':INPUT ACCEPT [0:0]', ':KUBE-FIREWALL - [0:0]', ':KUBE-KUBELET-CANARY - [0:0]', ':KUBE-ROUTER-SERVICES - [0:0]', ':KUBE-ROUTER-INPUT - [0:0]',
        '-A INPUT -j KUBE-FIREWALL',
        '-A INPUT -m comment --comment "handle traffic to IPVS service IPs in custom chain" -m set --match-set kube-router-svip dst -j KUBE-ROUTER-SERVICES',
        '-A INPUT -m comment --comment "kube-router netpol - ABC" -j KUBE-ROUTER-INPUT',
        'COMMIT',
      ].join('\n')),
    ],
    ipsets: ['KUBE-CLUSTER-IP', 'KUBE-6-LOOP-BACK', 'KUBE-SRC-ABCDEFGHIJKLMNOP', 'kube-router-svip', 'kube-router-svip-prt', 'inet6:kube-router-local-ips', 'kube-router-pod-subnets', 'mine'],
    links: ['eth0', 'kube-ipvs0', 'kube-dummy-if', 'kube-bridge'],
    rules: [{ family: 4, priority: 32764, fwmark: 1, table: 78 }, { family: 4, priority: 32764, fwmark: 0x2a, table: 78 }, { family: 4, priority: 32765, table: 79 }, { family: 4, priority: 100, table: 77 }, { family: 4, priority: 200, table: 200 }],
    dsrMarks: [0x2a],
  };
}

describe('taking over a node from kube-proxy and upstream kube-router (plan)', () => {
  it("names kube-proxy's objects exactly and never the kubelet's", () => {
    for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-SVC-ABCDEFGHIJKLMNOP', 'KUBE-SEP-QRSTUVWXYZ234567', 'KUBE-EXT-0123456789ABCDEF', 'KUBE-PROXY-CANARY', 'KUBE-MARK-MASQ']) assert.ok(isKubeProxyChain(c), c);
    for (const c of ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-MARK-DROP', 'KUBE-ROUTER-SERVICES', 'KUBE-SVC-short', 'KUBE-POD-FW-ABCDEFGHIJKLMNOP']) assert.ok(!isKubeProxyChain(c), c);
    for (const s of ['KUBE-CLUSTER-IP', 'KUBE-6-CLUSTER-IP', 'KUBE-NODE-PORT-LOCAL-TCP', 'KUBE-LOAD-BALANCER-SOURCE-CIDR']) assert.ok(isKubeProxyIpset(s), s);
    for (const s of ['KUBE-SRC-ABCDEFGHIJKLMNOP', 'KUBE-CLUSTER-IPX', 'kube-router-svip']) assert.ok(!isKubeProxyIpset(s), s);
    assert.ok(isUpstreamMasquerade('-m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "" -j SNAT --to-source 198.18.0.11 --random-fully'));
    assert.ok(!isUpstreamMasquerade('-m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "someone else" -j MASQUERADE'));
    assert.ok(!isUpstreamMasquerade('-m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "" -j ACCEPT'));
  });

  it('nftables backend without --cleanup-kube-proxy: upstream kube-router goes, kube-proxy is left and named', () => {
    const p = planTakeover(node(), { backend: 'nftables', cleanupKubeProxy: false });
    assert.deepEqual(p.nft, [], "kube-proxy's tables are left, ours stay");
    const left = p.found.filter((f) => f.action === 'leave').map((f) => f.what);
    assert.deepEqual(left, ['nftables table ip kube-proxy', 'nftables table ip6 kube-proxy', 'iptables v4 nat chain KUBE-SERVICES', 'iptables v4 nat chain KUBE-SVC-ABCDEFGHIJKLMNOP', 'iptables v4 nat chain KUBE-MARK-MASQ', 'ipset KUBE-CLUSTER-IP', 'ipset KUBE-6-LOOP-BACK', 'link kube-ipvs0']);
    const nat = p.iptables.find((t) => t.table === 'nat')?.text ?? '';
    assert.equal(nat.split('\n').filter((l) => l.startsWith('-D POSTROUTING -m ipvs --ipvs')).length, 2, nat);
    assert.ok(!nat.includes('someone else'), 'a masquerade rule with a comment is not upstream kube-router');
    assert.ok(nat.includes('-F KUBE-ROUTER-HAIRPIN') && nat.includes('-X KUBE-ROUTER-HAIRPIN'));
    assert.ok(nat.includes('-D POSTROUTING -m ipvs --vdir ORIGINAL -j KUBE-ROUTER-HAIRPIN'));
    assert.ok(!nat.includes('KUBE-SERVICES') && !nat.includes('KUBE-MARK-DROP'));
    const filter = p.iptables.find((t) => t.table === 'filter')?.text ?? '';
    assert.ok(filter.includes('-X KUBE-ROUTER-SERVICES') && !filter.includes('KUBE-ROUTER-INPUT') && !filter.includes('KUBE-FIREWALL'), filter);
    assert.deepEqual(p.ipsets, ['inet6:kube-router-local-ips', 'kube-router-svip', 'kube-router-svip-prt']);
    assert.equal(p.ipvsServices, true);
    assert.deepEqual(p.links, ['kube-dummy-if']);
    assert.deepEqual(p.rules.map((r) => `${r.table}/${r.fwmark ?? '-'}`), ['78/1', '78/42', '79/-'], 'no DSR without IPVS: every rule to 78 and 79 goes');
  });

  it('nftables backend with --cleanup-kube-proxy: its tables, chains (and the jumps to them), sets and interface go too', () => {
    const p = planTakeover(node(), { backend: 'nftables', cleanupKubeProxy: true });
    assert.deepEqual(p.nft, ['delete table ip kube-proxy', 'delete table ip6 kube-proxy']);
    const nat = p.iptables.find((t) => t.table === 'nat')?.text ?? '';
    const lines = nat.split('\n');
    assert.ok(lines.includes('-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'), nat);
    assert.ok(!lines.some((l) => l.startsWith('-D KUBE-SERVICES')), 'rules inside a removed chain go with its flush');
    for (const c of ['KUBE-SERVICES', 'KUBE-SVC-ABCDEFGHIJKLMNOP', 'KUBE-MARK-MASQ']) assert.ok(lines.includes(`-X ${c}`), c);
    assert.ok(lines.indexOf('-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES') < lines.indexOf('-F KUBE-SERVICES'));
    assert.ok(!nat.includes('KUBE-MARK-DROP'), "the kubelet's chain stays");
    assert.deepEqual(p.ipsets, ['KUBE-6-LOOP-BACK', 'KUBE-CLUSTER-IP', 'inet6:kube-router-local-ips', 'kube-router-svip', 'kube-router-svip-prt']);
    assert.deepEqual([...p.links].sort(), ['kube-dummy-if', 'kube-ipvs0']);
  });

  it("IPVS backend: upstream's shared objects are adopted; what only upstream writes goes; our nftables tables go", () => {
    const p = planTakeover(node(), { backend: 'ipvs', cleanupKubeProxy: false });
    assert.deepEqual(p.nft, ['delete table ip kube-router-proxy']);
    const adopted = p.found.filter((f) => f.action === 'adopt').map((f) => f.what).sort();
    assert.deepEqual(adopted, ['iptables v4 filter chain KUBE-ROUTER-SERVICES', 'iptables v4 nat chain KUBE-ROUTER-HAIRPIN', 'ipset inet6:kube-router-local-ips', 'ipset kube-router-svip', 'ipset kube-router-svip-prt', 'link kube-dummy-if'].sort());
    assert.deepEqual(p.ipsets, []);
    assert.equal(p.ipvsServices, false);
    assert.deepEqual(p.links, []);
    assert.deepEqual(p.rules.map((r) => `${r.table}/${r.fwmark ?? '-'}`), ['78/1', '79/-'], 'the rule of our recorded DSR frontend stays');
    const nat = p.iptables.find((t) => t.table === 'nat')?.text ?? '';
    assert.ok(nat.includes('-D POSTROUTING -m ipvs --vdir ORIGINAL -j KUBE-ROUTER-HAIRPIN'), "upstream's differently worded jump goes");
    assert.ok(!nat.includes(jumpRules(4).natHairpin), 'ours stays');
    assert.ok(!nat.includes('-X '), 'no chain is deleted');
    const filter = p.iptables.find((t) => t.table === 'filter')?.text ?? '';
    assert.ok(filter.includes('-D INPUT -m comment --comment "handle traffic to IPVS service IPs in custom chain"'), filter);
  });

  it('a clean node: nothing to do', () => {
    const p = planTakeover({ nftTables: [{ family: 'ip', name: 'kube-router-proxy' }], iptables: [saved('nat', ':POSTROUTING ACCEPT [0:0]\nCOMMIT')], ipsets: ['kube-router-pod-subnets'], links: ['eth0', 'kube-bridge'], rules: [], dsrMarks: [] }, { backend: 'nftables', cleanupKubeProxy: true });
    assert.deepEqual(p.found, []);
    assert.deepEqual([p.nft, p.iptables, p.ipsets, p.links, p.rules], [[], [], [], [], []]);
  });
});
