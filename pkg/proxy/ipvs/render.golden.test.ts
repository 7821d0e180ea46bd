import { golden } from '../../../test/golden.js';
import { ownedChainLines } from '../../linux/iptables/owned-chain.js';
import type { CIDR, Family, IP, Port } from '../../util/ip.js';
import type { FamilyModel, Frontend } from '../model/types.js';
import { ipvsChainSpecs } from './desired.js';

const fe = (over: Partial<Frontend> & Pick<Frontend, 'ip' | 'port'>): Frontend => ({ protocol: 'TCP', kind: 'cluster', service: 'default/web:http', backends: [], masquerade: true, hairpin: false, scheduler: 'rr', schedFlags: [], ...over });
const b = (a: string, p = 8080): { ip: IP; port: Port } => ({ ip: a as IP, port: p as Port });

function model(family: Family): FamilyModel {
  const v6 = family === 6;
  const a = (v4: string, v6addr: string): IP => (v6 ? v6addr : v4) as IP;
  const frontends: Frontend[] = [
    fe({ ip: a('198.18.128.10', '2001:db8:128::a'), port: 80 as Port, backends: [b(a('198.18.64.2', '2001:db8:64::2')), b(a('198.18.64.3', '2001:db8:64::3'))] }),
    fe({ ip: a('198.18.128.11', '2001:db8:128::b'), port: 443 as Port, hairpin: true, affinitySeconds: 600, backends: [b(a('198.18.64.4', '2001:db8:64::4'), 8443)] }),
    fe({ ip: a('198.19.1.7', '2001:db8:1::7'), port: 80 as Port, kind: 'loadbalancer', masquerade: false, backends: [b(a('198.18.64.2', '2001:db8:64::2'))] }),
    fe({ ip: a('198.18.0.10', '2001:db8::10'), port: 30080 as Port, kind: 'nodeport', protocol: 'UDP', backends: [b(a('198.18.64.3', '2001:db8:64::3'), 5353)] }),
  ];
  return { family, frontends: new Map(frontends.map((f) => [`${f.ip} . ${f.protocol.toLowerCase()} . ${f.port}`, f])), podCIDRs: [(v6 ? '2001:db8:64::/64' : '198.18.64.0/24') as CIDR], localIPs: [a('198.18.0.10', '2001:db8::10')] };
}

/** What a fresh node gets: every table's restore text for our chains and the jumps into them. */
function restoreText(family: Family, opts: { rejectUnserved: boolean; masqueradeAll: boolean }): string {
  const out: string[] = [];
  for (const spec of ipvsChainSpecs(model(family), opts)) out.push(`*${spec.table}`, ...ownedChainLines({ chains: new Map() }, spec), 'COMMIT');
  return out.join('\n') + '\n';
}

describe('IPVS filter and nat chains (golden)', () => {
  for (const f of [4, 6] as const) {
    it(`IPv${f}: the service filter with --ipvs-permit-all, hairpin SNAT and masquerade`, () => {
      golden(`proxy/ipvs-chains-v${f}.rules`, restoreText(f, { rejectUnserved: true, masqueradeAll: false }));
    });
  }
  it('--masquerade-all: no exemptions, one MASQUERADE; without permit-all the filter chain is empty', () => {
    golden('proxy/ipvs-chains-masquerade-all.rules', restoreText(4, { rejectUnserved: false, masqueradeAll: true }));
  });
});
