import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import type { IP } from '../../util/ip.js';
import type { PodTunnels } from './types.js';

/** Pods by PID, each with its tunnel's local address and VIPs. */
export class FakePodTunnels implements PodTunnels {
  readonly pods = new Map<number, { podIP?: IP; vips: Set<IP> }>();
  /** How many times ensure ran (each is a write into a pod). */
  ensureCalls = 0;

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
    return Promise.resolve().then(() => [...this.pod(pid).vips].sort());
  }

  ensure(pid: number, podIP: IP, vips: readonly IP[]): Promise<void> {
    return Promise.resolve().then(() => {
      const p = this.pod(pid);
      this.ensureCalls++;
      p.vips = new Set(vips);
      if (vips.length > 0) p.podIP = podIP;
      else delete p.podIP;
    });
  }
}
