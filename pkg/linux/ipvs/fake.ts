import { NetlinkError, EEXIST, ENOENT, ESRCH } from '../genl/socket.js';
import type { IP } from '../../util/ip.js';
import { destKey, serviceIdKey, type Ipvs, type IpvsDestination, type IpvsDestinationState, type IpvsOp, type IpvsOpResult, type IpvsService, type IpvsServiceId, type IpvsServiceState, type IpvsStats, type IpvsTimeouts } from './types.js';

const ZERO_STATS: IpvsStats = { connections: 0, packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, cps: 0, ppsIn: 0, ppsOut: 0, bpsIn: 0, bpsOut: 0 };
/** The schedulers Debian's kernel ships. */
const SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos']);

interface FakeEntry {
  service: IpvsService;
  readonly dests: Map<string, { dest: IpvsDestination; active: number; inactive: number }>;
}

/** The kernel's IPVS table in memory, with its error behaviour (EEXIST, ESRCH, ENOENT). */
export class FakeIpvs implements Ipvs {
  private readonly table = new Map<string, FakeEntry>();
  private config: IpvsTimeouts = { tcp: 900, tcpFin: 120, udp: 300 };
  /** Ops applied, for tests that count kernel writes. */
  readonly log: IpvsOp[] = [];

  services(): Promise<IpvsServiceState[]> {
    return Promise.resolve([...this.table.values()].map((e) => ({ ...e.service, stats: ZERO_STATS })));
  }

  destinations(service: IpvsServiceId): Promise<IpvsDestinationState[]> {
    const e = this.table.get(serviceIdKey(service));
    if (!e) return Promise.resolve([]); // the kernel dumps nothing for a service it does not have
    return Promise.resolve([...e.dests.values()].map((d) => ({ ...d.dest, activeConnections: d.active, inactiveConnections: d.inactive, persistentConnections: 0, stats: ZERO_STATS })));
  }

  apply(ops: readonly IpvsOp[]): Promise<IpvsOpResult[]> {
    return Promise.resolve(
      ops.map((op) => {
        this.log.push(op);
        try {
          this.one(op);
          return undefined;
        } catch (e) {
          return e as Error;
        }
      }),
    );
  }

  private one(op: IpvsOp): void {
    const fail = (errno: number): never => {
      throw new NetlinkError(errno, 'generic netlink request');
    };
    switch (op.op) {
      case 'add-service': {
        const k = serviceIdKey(op.service.id);
        if (this.table.has(k)) fail(EEXIST);
        if (!SCHEDULERS.has(op.service.scheduler)) fail(ENOENT);
        this.table.set(k, { service: op.service, dests: new Map() });
        return;
      }
      case 'update-service': {
        const e = this.table.get(serviceIdKey(op.service.id)) ?? fail(ESRCH);
        if (!SCHEDULERS.has(op.service.scheduler)) fail(ENOENT);
        e.service = op.service;
        return;
      }
      case 'delete-service':
        if (!this.table.delete(serviceIdKey(op.id))) fail(ESRCH);
        return;
      case 'add-dest': {
        const e = this.table.get(serviceIdKey(op.service)) ?? fail(ESRCH);
        const k = destKey(op.dest.address, op.dest.port);
        if (e.dests.has(k)) fail(EEXIST);
        e.dests.set(k, { dest: op.dest, active: 0, inactive: 0 });
        return;
      }
      case 'update-dest': {
        const e = this.table.get(serviceIdKey(op.service)) ?? fail(ESRCH);
        const d = e.dests.get(destKey(op.dest.address, op.dest.port)) ?? fail(ENOENT);
        d.dest = op.dest;
        return;
      }
      case 'delete-dest': {
        const e = this.table.get(serviceIdKey(op.service)) ?? fail(ESRCH);
        if (!e.dests.delete(destKey(op.address, op.port))) fail(ENOENT);
        return;
      }
    }
  }

  timeouts(): Promise<IpvsTimeouts> {
    return Promise.resolve(this.config);
  }

  setTimeouts(t: IpvsTimeouts): Promise<void> {
    this.config = { tcp: t.tcp || this.config.tcp, tcpFin: t.tcpFin || this.config.tcpFin, udp: t.udp || this.config.udp };
    return Promise.resolve();
  }

  close(): void {}

  /** Test hook: connections on one destination (what graceful termination waits for). */
  setConnections(service: IpvsServiceId, address: IP, port: number, active: number, inactive: number): void {
    const d = this.table.get(serviceIdKey(service))?.dests.get(destKey(address, port));
    if (d) Object.assign(d, { active, inactive });
  }
}
