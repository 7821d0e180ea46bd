/**
 * The pod side of DSR: every pod on this node behind a DSR frontend carries the frontend's VIP on its
 * IP-in-IP tunnel (so it accepts the packets IPVS tunnels to it and answers the client from the VIP);
 * a pod that no longer serves a DSR frontend has the VIP taken off again (the tunnel goes with the last
 * one). Runs after the IPVS transaction (a side effect after commit). A pod that cannot be entered (no
 * process id from the runtime, nsenter failing) is reported and retried next sync; the others go on.
 */
import { errorMessage } from '../../util/errors.js';
import type { IP } from '../../util/ip.js';
import type { Logger } from '../../util/logger.js';
import type { PodTunnels } from '../../linux/podtunnel/types.js';
import type { Frontend } from '../model/types.js';
import { isDsrCapable } from './desired.js';

export interface DsrPodsDeps {
  readonly tunnels: PodTunnels;
  /** The process id of a pod (`namespace/name`) on this node, through the container runtime. */
  readonly pidOf: (pod: string) => Promise<number>;
  readonly logger: Logger;
}

interface PodTunnel {
  readonly pid: number;
  readonly ip: IP;
  readonly vips: readonly IP[];
}

export interface DsrPodsResult {
  readonly changed: number;
  readonly failed: readonly { readonly pod: string; readonly error: string }[];
}

/** Pod → its address and the DSR VIPs it must answer for. Pure. */
export function desiredPodTunnels(frontends: Iterable<Frontend>): Map<string, { ip: IP; vips: IP[] }> {
  const out = new Map<string, { ip: IP; vips: IP[] }>();
  for (const f of frontends) {
    if (!isDsrCapable(f) || !f.dsr) continue;
    for (const t of f.dsr.local) {
      const cur = out.get(t.pod) ?? { ip: t.ip, vips: [] };
      if (!cur.vips.includes(f.ip)) cur.vips.push(f.ip);
      out.set(t.pod, cur);
    }
  }
  for (const v of out.values()) v.vips.sort();
  return out;
}

export class DsrPods {
  private readonly applied = new Map<string, PodTunnel>();

  constructor(private readonly deps: DsrPodsDeps) {}

  /** Pods whose tunnel we set, with what we set (for `kube-router proxy services` and tests). */
  pods(): ReadonlyMap<string, PodTunnel> {
    return this.applied;
  }

  /** `full`: every pod is looked at again (periodic repair); otherwise only those whose wish changed. */
  async sync(frontends: Iterable<Frontend>, full: boolean): Promise<DsrPodsResult> {
    const want = desiredPodTunnels(frontends);
    let changed = 0;
    const failed: { pod: string; error: string }[] = [];
    for (const [pod, have] of [...this.applied]) {
      if (want.has(pod)) continue;
      try {
        await this.deps.tunnels.ensure(have.pid, have.ip, []);
        changed++;
      } catch (e) {
        // The pod (and its network namespace) is gone with its process: nothing left to clean.
        this.deps.logger.v(2, 'DSR: the tunnel of a pod that left could not be removed', { pod, error: errorMessage(e) });
      }
      this.applied.delete(pod);
    }
    for (const [pod, w] of want) {
      const have = this.applied.get(pod);
      if (!full && have && have.ip === w.ip && have.vips.join() === w.vips.join()) continue;
      try {
        const pid = await this.deps.pidOf(pod);
        // A periodic look at a pod already set: read first, write only what someone changed.
        if (have && have.pid === pid && have.ip === w.ip && have.vips.join() === w.vips.join() && (await this.deps.tunnels.vips(pid)).sort().join() === w.vips.join()) continue;
        await this.deps.tunnels.ensure(pid, w.ip, w.vips);
        this.applied.set(pod, { pid, ip: w.ip, vips: w.vips });
        changed++;
      } catch (e) {
        this.applied.delete(pod);
        failed.push({ pod, error: errorMessage(e) });
      }
    }
    for (const f of failed.slice(0, 5)) this.deps.logger.warn('DSR: could not set the tunnel in a pod; its DSR traffic is dropped until the next sync succeeds', f);
    return { changed, failed };
  }
}
