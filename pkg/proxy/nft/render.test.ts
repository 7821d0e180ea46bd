import assert from 'node:assert/strict';
import { golden } from '../../../test/golden.js';
import type { CIDR, IP, Port } from '../../util/ip.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import { renderDelta, renderFull } from './render.js';
import { type RenderContext } from '../backend.js';

const ip = (s: string): IP => s as IP;
const fe = (over: Partial<Frontend> & Pick<Frontend, 'ip' | 'port'>): Frontend => ({ protocol: 'TCP', kind: 'cluster', service: 'default/web:http', backends: [], masquerade: true, hairpin: false, scheduler: 'rr', schedFlags: [], ...over });
const b = (a: string, p = 8080): { ip: IP; port: Port } => ({ ip: ip(a), port: p as Port });

function model(frontends: Frontend[]): FamilyModel {
  return { family: 4, frontends: new Map(frontends.map((f) => [`${f.ip} . ${f.protocol.toLowerCase()} . ${f.port}`, f])), podCIDRs: ['198.18.64.0/24' as CIDR], localIPs: [ip('198.18.0.10')] };
}

const ctx: RenderContext = { opts: { masqueradeAll: false, rejectUnserved: true }, isLocal: (a) => a === '198.18.0.10' };
const base = [
  fe({ ip: ip('198.18.128.10'), port: 80 as Port, backends: [b('198.18.64.2'), b('198.18.64.3')] }),
  fe({ ip: ip('198.18.128.10'), port: 53 as Port, protocol: 'UDP', backends: [b('198.18.64.2', 5353)] }),
  fe({ ip: ip('198.18.0.10'), port: 30080 as Port, kind: 'nodeport', masquerade: false, backends: [b('198.18.64.2')] }),
  fe({ ip: ip('198.18.128.11'), port: 80 as Port, affinitySeconds: 600, hairpin: true, backends: [b('198.18.64.4')] }),
  fe({ ip: ip('198.18.128.12'), port: 443 as Port, backends: [] }),
];

describe('proxy nftables renderer (golden)', () => {
  it('full render', () => {
    golden('proxy/full.nft', renderFull(model(base), ctx).script);
  });

  it('delta: one endpoint added, one service gone; a second delta with no change is empty', () => {
    const { state } = renderFull(model(base), ctx);
    const next = model([{ ...base[0]!, backends: [b('198.18.64.2'), b('198.18.64.3'), b('198.18.64.9')] }, base[1]!, base[2]!, base[3]!]);
    const plan = renderDelta(state, next, ['198.18.128.10 . tcp . 80', '198.18.128.12 . tcp . 443'], ctx);
    golden('proxy/delta.nft', plan.script);
    plan.commit(state);
    assert.equal(renderDelta(state, next, [...next.frontends.keys()], ctx).script, '');
  });

  it('renders the same text whatever the insertion order', () => {
    assert.equal(renderFull(model([...base].reverse()), ctx).script, renderFull(model(base), ctx).script);
  });
});

describe('proxy nftables renderer: hashing schedulers', () => {
  const hashed = (scheduler: Frontend['scheduler'], schedFlags: string[] = [], n = 2): Frontend =>
    fe({ ip: ip('198.18.128.20'), port: 80 as Port, scheduler, schedFlags, backends: Array.from({ length: n }, (_, i) => b(`198.18.64.${i + 2}`)) });

  it('sh and mh hash the source address (with flag-2 also the source port), dh the destination; rr and the IPVS-only ones pick at random', () => {
    const cases: [Frontend, string, string][] = [
      [hashed('sh'), 'svc-2-m-hs', 'jhash ip saddr mod 2 seed 0x6b72'],
      [hashed('mh', ['flag-1']), 'svc-2-m-hs', 'jhash ip saddr mod 2 seed 0x6b72'],
      [hashed('sh', ['flag-2']), 'svc-2-m-hsp', 'jhash ip saddr . th sport mod 2 seed 0x6b72'],
      [hashed('mh', ['flag-1', 'flag-2']), 'svc-2-m-hsp', 'jhash ip saddr . th sport mod 2 seed 0x6b72'],
      [hashed('dh', [], 3), 'svc-3-m-hd', 'jhash ip daddr mod 3 seed 0x6b72'],
      [hashed('rr'), 'svc-2-m', 'numgen random mod 2'],
      [hashed('lc'), 'svc-2-m', 'numgen random mod 2'],
      [hashed('wrr'), 'svc-2-m', 'numgen random mod 2'],
    ];
    for (const [f, chain, expr] of cases) {
      const { script } = renderFull(model([f]), ctx);
      assert.ok(script.includes(`198.18.128.20 . tcp . 80 : goto ${chain}`), `${f.scheduler} ${f.schedFlags.join()}: dispatch to ${chain}\n${script}`);
      assert.ok(script.includes(`add rule ip kube-router-proxy ${chain} dnat ip to ip daddr . meta l4proto . th dport . ${expr} map @ep-${chain.slice(4)}`), `${f.scheduler}: ${expr}\n${script}`);
    }
    const v6 = renderFull({ ...model([]), family: 6, frontends: new Map([['2001:db8::20 . tcp . 80', { ...hashed('sh', ['flag-2']), ip: ip('2001:db8::20'), backends: [b('2001:db8:1::2'), b('2001:db8:1::3')] }]]), podCIDRs: [] }, ctx).script;
    assert.ok(v6.includes('jhash ip6 saddr . th sport mod 2 seed 0x6b72'), v6);
  });

  it('a scheduler change moves the frontend to the other handler in one delta, and the delta equals a full render', () => {
    const { state } = renderFull(model([hashed('rr')]), ctx);
    const next = model([hashed('sh')]);
    const plan = renderDelta(state, next, ['198.18.128.20 . tcp . 80'], ctx);
    assert.match(plan.script, /add chain ip kube-router-proxy svc-2-m-hs/);
    assert.match(plan.script, /delete chain ip kube-router-proxy svc-2-m\n/);
    plan.commit(state);
    assert.deepEqual([...state.handlers.keys()], ['svc-2-m-hs']);
    assert.equal(renderDelta(state, next, ['198.18.128.20 . tcp . 80'], ctx).script, '');
  });
});
