import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import type { IP } from '../../util/ip.js';
import type { PodTunnels } from './types.js';

/** Pods by PID, each with its tunnel's local address and VIPs. */
export class FakePodTunnels implements PodTunnels {
  readonly pods = new Map<number, { podIP?: IP; vips: Set<IP> }>();

  /** A pod process that exists (ensure on any other PID fails, as nsenter would). */
  addPod(pid: number): void {
    this.pods.set(pid, { vips: new Set() });
  }

  private pod(pid: number): { podIP?: IP; vips: Set<IP> } {
    const p = this.pods.get(pid);
    if (!p) throw new KubeRouterError(ErrorCode.NotFound, `no process ${pid}`);
    return p;
  }

  vips(pid: number): Promise<IP[]> {
    try {
      return Promise.resolve([...this.pod(pid).vips].sort());
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  ensure(pid: number, podIP: IP, vips: readonly IP[]): Promise<void> {
    try {
      const p = this.pod(pid);
      p.vips = new Set(vips);
      if (vips.length > 0) p.podIP = podIP;
      else delete p.podIP;
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
}
