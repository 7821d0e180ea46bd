import assert from 'node:assert/strict';
import type { IP } from '../util/ip.js';
import { chooseAddress } from './iface.js';
import { loadConfig } from '../options/load-config.js';

const links = [
  { name: 'eth0', index: 2, mtu: 1500, up: true },
  { name: 'eth1', index: 3, mtu: 1500, up: true },
  { name: 'bond0', index: 4, mtu: 9000, up: true },
];
const addrs = [
  { dev: 'eth0', ip: '198.18.0.11' as IP, prefix: 24 },
  { dev: 'eth1', ip: '198.18.7.11' as IP, prefix: 24 },
  { dev: 'eth1', ip: 'fe80::1' as IP, prefix: 64 },
  { dev: 'bond0', ip: '2001:db8:7::11' as IP, prefix: 64 },
];

describe('--iface / --iface-regex', () => {
  it('picks the address of the named or first matching interface, per family; the default is the Node address', () => {
    const fallback = '198.18.0.11' as IP;
    assert.equal(chooseAddress({ kind: 'default' }, 4, fallback, links, addrs), fallback);
    assert.equal(chooseAddress({ kind: 'name', name: 'eth1' }, 4, fallback, links, addrs), '198.18.7.11');
    assert.equal(chooseAddress({ kind: 'name', name: 'eth1' }, 6, fallback, links, addrs), undefined, 'link-local addresses do not count');
    assert.equal(chooseAddress({ kind: 'regex', pattern: '^(eth1|bond)' }, 6, fallback, links, addrs), '2001:db8:7::11');
    assert.equal(chooseAddress({ kind: 'regex', pattern: '^eth' }, 4, fallback, links, addrs), '198.18.0.11', 'first by index');
    assert.equal(chooseAddress({ kind: 'name', name: 'nope' }, 4, fallback, links, addrs), undefined);
  });

  it('flags: both together or a bad regex are usage errors', () => {
    const load = (args: string[]): ReturnType<typeof loadConfig> => loadConfig(args, { env: {}, hostname: () => 'n1', readFile: () => '' });
    assert.equal(load(['--iface=eth1', '--iface-regex=^e']).kind, 'usage-error');
    assert.equal(load(['--iface-regex=(']).kind, 'usage-error');
    const ok = load(['--iface-regex=^bond']);
    assert.ok(ok.kind === 'run' && ok.config.router.iface.kind === 'regex');
  });
});
