import type { Exec } from '../exec.js';
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { tryParseIP, type IP } from '../../util/ip.js';
import { POD_TUNNEL_IF, type PodTunnels } from './types.js';

const TIMEOUT_MS = 10_000;

/** `nsenter` into the pod's network namespace, then `ip` and `sysctl` there. */
export class RealPodTunnels implements PodTunnels {
  constructor(private readonly exec: Exec) {}

  private inPod(pid: number, argv: readonly string[], input?: string): Promise<{ stdout: string }> {
    if (!Number.isInteger(pid) || pid <= 1) throw new KubeRouterError(ErrorCode.Invalid, `not a pod process: ${pid}`);
    return this.exec.run(['nsenter', `--net=/proc/${pid}/ns/net`, '--', ...argv], { timeoutMs: TIMEOUT_MS, ...(input !== undefined ? { stdin: input } : {}) });
  }

  async vips(pid: number): Promise<IP[]> {
    const out = await this.inPod(pid, ['ip', '-j', '-4', 'addr', 'show']);
    const links = JSON.parse(out.stdout || '[]') as { ifname?: string; addr_info?: { local?: string }[] }[];
    const tunnel = links.find((l) => l.ifname === POD_TUNNEL_IF);
    return (tunnel?.addr_info ?? []).flatMap((a) => {
      const ip = tryParseIP(a.local ?? '');
      return ip ? [ip] : [];
    });
  }

  async ensure(pid: number, podIP: IP, vips: readonly IP[]): Promise<void> {
    const links = JSON.parse((await this.inPod(pid, ['ip', '-j', 'link', 'show'])).stdout || '[]') as { ifname?: string }[];
    const exists = links.some((l) => l.ifname === POD_TUNNEL_IF);
    if (vips.length === 0) {
      if (exists) await this.inPod(pid, ['ip', 'link', 'del', POD_TUNNEL_IF]);
      return;
    }
    const have = exists ? new Set(await this.vips(pid)) : new Set<IP>();
    const want = new Set(vips);
    const batch: string[] = [];
    if (!exists) batch.push(`link add ${POD_TUNNEL_IF} type ipip local ${podIP}`);
    batch.push(`link set ${POD_TUNNEL_IF} up`);
    for (const ip of want) if (!have.has(ip)) batch.push(`addr add ${ip}/32 dev ${POD_TUNNEL_IF} scope link`);
    for (const ip of have) if (!want.has(ip)) batch.push(`addr del ${ip}/32 dev ${POD_TUNNEL_IF}`);
    await this.inPod(pid, ['ip', '-batch', '-'], batch.join('\n') + '\n');
    // The client's packets arrive on the tunnel and the replies leave by eth0: strict reverse-path
    // filtering would drop them (the kernel uses the larger of `all` and the interface's value).
    await this.inPod(pid, ['sysctl', '-q', '-e', '-w', `net.ipv4.conf.${POD_TUNNEL_IF}.rp_filter=0`, 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0']);
  }
}
