import type { IP } from '../../util/ip.js';

/** The IP-in-IP interface DSR puts in a backend pod (upstream's name), which answers for the VIPs. */
export const POD_TUNNEL_IF = 'kube-tunnel-if';

/**
 * The pod side of DSR, entered through a process of the pod (`/proc/PID/ns/net`): one IP-in-IP
 * interface whose local address is the pod's, carrying the DSR VIPs the pod serves, with reverse-path
 * filtering off (the client is reached through eth0, not through the tunnel). Nothing else in the pod
 * is touched.
 */
export interface PodTunnels {
  /** The VIPs on the pod's tunnel; empty when it has none (or no tunnel). */
  vips(pid: number): Promise<IP[]>;
  /** The tunnel carries exactly `vips`; with none, it is deleted. */
  ensure(pid: number, podIP: IP, vips: readonly IP[]): Promise<void>;
}
