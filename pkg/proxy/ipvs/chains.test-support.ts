import type { CIDR, Family, IP, Port } from '../../util/ip.js';
import type { FamilyModel, Frontend } from '../model/types.js';

const fe = (over: Partial<Frontend> & Pick<Frontend, 'ip' | 'port'>): Frontend => ({ protocol: 'TCP', kind: 'cluster', service: 'default/web:http', backends: [], masquerade: true, hairpin: false, scheduler: 'rr', schedFlags: [], ...over });
const b = (a: string, p = 8080): { ip: IP; port: Port } => ({ ip: a as IP, port: p as Port });

/** Four frontends of every kind (one with hairpin, one keeping the client address) for the chain tests. */
export function chainTestModel(family: Family): FamilyModel {
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

