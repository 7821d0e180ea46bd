import type { KubeClient, JsonObject } from '../kube-client.js';
import { asArray, asRecord, asString } from '../../pkg/util/json.js';

function hostsOf(cidr: string): string[] {
  const [addr, len] = cidr.split('/');
  const base = (addr ?? '').split('.').map(Number);
  const size = 2 ** (32 - Number(len));
  const start = (((base[0] ?? 0) << 24) | ((base[1] ?? 0) << 16) | ((base[2] ?? 0) << 8) | (base[3] ?? 0)) >>> 0;
  return Array.from({ length: Math.max(0, size - 2) }, (_, k) => {
    const v = start + k + 1;
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  });
}

/**
 * A cloud provider's load-balancer controller, as far as the lab needs one: each IPv4 Service of type
 * LoadBalancer without an address in its status gets the next free one of the range (its requested
 * spec.loadBalancerIP when free). A lab stand-in: nothing in kube-router's own code path.
 */
export async function assignLoadBalancerIPs(c: KubeClient, range: string): Promise<string[]> {
  const svcs = await c.list('Service');
  const ingressOf = (s: JsonObject): string[] => asArray(asRecord(asRecord(s['status'])?.['loadBalancer'])?.['ingress']).map((i) => asString(asRecord(i)?.['ip']) ?? '').filter((x) => x !== '');
  const used = new Set(svcs.flatMap(ingressOf));
  const done: string[] = [];
  for (const s of svcs) {
    const spec = asRecord(s['spec']);
    if (asString(spec?.['type']) !== 'LoadBalancer' || ingressOf(s).length > 0 || spec?.['loadBalancerClass'] !== undefined) continue;
    const meta = asRecord(s['metadata']);
    const wanted = asString(spec?.['loadBalancerIP']);
    const ip = wanted && !used.has(wanted) ? wanted : hostsOf(range).find((h) => !used.has(h));
    if (!ip) continue;
    used.add(ip);
    await c.patch('Service', asString(meta?.['namespace']), asString(meta?.['name']) ?? '', { status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } } }, 'status');
    done.push(`${asString(meta?.['namespace']) ?? ''}/${asString(meta?.['name']) ?? ''} ${ip}`);
  }
  return done;
}
