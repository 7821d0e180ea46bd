import assert from 'node:assert/strict';
import type { CIDR, IP, Port } from '../util/ip.js';
import { explainServices } from './inspect-services.js';
import type { FamilyModel, Frontend } from './model/types.js';
import { parseProgrammed } from './nft/programmed.js';
import { frontendTotals, withRates } from './nft/traffic.js';

function fe(ip: string, port: number, backends: string[], service = 'shop/web:http'): Frontend {
  return { ip: ip as IP, port: port as Port, protocol: 'TCP', kind: 'cluster', service, backends: backends.map((b) => ({ ip: b.split(':')[0] as IP, port: Number(b.split(':')[1]) as Port })), masquerade: false, hairpin: false, scheduler: 'rr', schedFlags: [] };
}
function model(...fs: Frontend[]): FamilyModel {
  return { family: 4, frontends: new Map(fs.map((f) => [`${f.ip} . tcp . ${f.port}`, f])), podCIDRs: ['198.18.64.0/24' as CIDR], localIPs: [] };
}

describe('proxy inspection (pure)', () => {
  it('reads frontends and their backends from the dispatch map, the no-endpoints set and the endpoint maps', () => {
    const p = parseProgrammed(
      ['198.18.128.10 . tcp . 80 : goto svc-2-m', '198.18.128.11 . tcp . 443 : goto svc-1'],
      ['198.18.128.12 . tcp . 80'],
      new Map([
        ['svc-2-m', ['198.18.128.10 . tcp . 80 . 1 : 198.18.65.4 . 8080', '198.18.128.10 . tcp . 80 . 0 : 198.18.64.2 . 8080']],
        ['svc-1', ['198.18.128.11 . tcp . 443 . 0 : 198.18.0.2 . 6443']],
      ]),
    );
    assert.deepEqual([...p.entries()], [
      ['198.18.128.10 . tcp . 80', { backends: [{ addr: '198.18.64.2:8080' }, { addr: '198.18.65.4:8080' }], rejected: false }],
      ['198.18.128.11 . tcp . 443', { backends: [{ addr: '198.18.0.2:6443' }], rejected: false }],
      ['198.18.128.12 . tcp . 80', { backends: [], rejected: true }],
    ]);
  });

  it('states: serving, rejecting, out-of-sync, missing, stale; a name filters to that Service', () => {
    const m = model(fe('198.18.128.10', 80, ['198.18.64.2:8080']), fe('198.18.128.12', 80, [], 'shop/empty:http'), fe('198.18.128.13', 80, ['198.18.64.3:8080'], 'shop/late:http'), fe('198.18.128.14', 80, ['198.18.64.4:8080', '198.18.64.5:8080'], 'shop/drift:http'));
    const programmed = new Map([
      ['198.18.128.10 . tcp . 80', { backends: [{ addr: '198.18.64.2:8080' }], rejected: false }],
      ['198.18.128.12 . tcp . 80', { backends: [], rejected: true }],
      ['198.18.128.14 . tcp . 80', { backends: [{ addr: '198.18.64.4:8080' }], rejected: false }],
      ['198.18.128.99 . tcp . 80', { backends: [{ addr: '198.18.64.9:80' }], rejected: false }],
    ]);
    const rows = explainServices([{ model: m, programmed }], 'nftables');
    assert.deepEqual(rows.map((r) => `${r.service} ${r.frontend} ${r.state}`), ['- 198.18.128.99:80/tcp stale', 'shop/drift:http 198.18.128.14:80/tcp out-of-sync', 'shop/empty:http 198.18.128.12:80/tcp rejecting', 'shop/late:http 198.18.128.13:80/tcp missing', 'shop/web:http 198.18.128.10:80/tcp serving']);
    assert.deepEqual(explainServices([{ model: m, programmed }], 'nftables', 'shop/web').map((r) => r.service), ['shop/web:http']);
  });

  it('traffic: totals from each frontend\'s elements in the three counter sets, rates from the previous reading, none after a reset', () => {
    const m = model(fe('198.18.128.10', 80, ['198.18.64.2:8080']));
    const key = '198.18.128.10 . tcp . 80';
    const counters = { in: new Map([[key, { packets: 30, bytes: 3000 }]]), out: new Map([[key, { packets: 20, bytes: 8000 }]]), new: new Map([[key, { packets: 10, bytes: 600 }]]) };
    const t = frontendTotals(m.frontends, counters).get(key)?.totals;
    assert.deepEqual(t, { connections: 10, packetsIn: 30, bytesIn: 3000, packetsOut: 20, bytesOut: 8000 });
    assert.ok(t);
    assert.equal(withRates(t, undefined, 0).cps, 0);
    assert.equal(withRates(t, { connections: 0, packetsIn: 10, bytesIn: 1000, packetsOut: 0, bytesOut: 0 }, 2).bpsIn, 1000);
    assert.equal(withRates({ ...t, connections: 1 }, t, 2).cps, 0, 'a counter that went backwards (frontend re-created) has no rate');
  });
});
