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
