import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { cidrContains, cidrParts, familyOf, parseCIDR, type CIDR, type Family, type IP } from '../../util/ip.js';
import { assertNever } from '../../util/assert-never.js';
import { renderOp } from './render.js';
import { withNexthopDetail } from './through-nexthop.js';
import type { Address, Link, Netlink, NetOp, Nexthop, Route, RouteRule } from './types.js';

interface State {
  links: Link[];
  addresses: Address[];
  routes: Route[];
  rules: RouteRule[];
  nexthops: Nexthop[];
}

const DEFAULT_RULES: RouteRule[] = ([4, 6] as const).flatMap((family) => [
  { family, priority: 0, table: 255 },
  { family, priority: 32766, table: 254 },
  ...(family === 4 ? [{ family, priority: 32767, table: 253 }] : []),
]);

function sameRoute(a: Route, b: Route): boolean {
  return a.dst === b.dst && a.table === b.table && (a.type ?? 'unicast') === (b.type ?? 'unicast');
}

function sameRule(a: RouteRule, b: RouteRule): boolean {
  return a.family === b.family && a.priority === b.priority && a.table === b.table && a.from === b.from && a.fwmark === b.fwmark;
}

function connectedCidr(a: Address): CIDR {
  return parseCIDR(`${a.ip}/${a.prefix}`);
}

/**
 * In-memory rtnetlink: links (with `lo`), addresses with their connected routes, routes per table,
 * policy rules with the kernel's defaults. A batch is applied to a copy and committed all-or-nothing.
 * Checks what the kernel checks: devices exist, gateways are reachable on a connected subnet (or the
 * route is onlink), deleting what is not there fails, adding what exists fails. Nexthop objects as
 * the kernel keeps them: a route names one by id and reads back with its gateway and device
 * (`nexthop_compat_mode`); deleting one, or its device, takes the routes through it.
 */
export class FakeNetlink implements Netlink {
  state: State = {
    links: [{ name: 'lo', index: 1, mtu: 65536, up: true }],
    addresses: [],
    routes: [],
    rules: [...DEFAULT_RULES],
    nexthops: [],
  };
  /** Test hook: a kernel older than 5.3 (no nexthop objects). */
  nexthopsSupported = true;
  readonly batches: string[][] = [];
  private nextIndex = 2;

  routes(family: Family, filter: { table?: number | 'all'; protocol?: number } = {}): Promise<Route[]> {
    const table = filter.table ?? 254;
    return Promise.resolve(
      this.allRoutes(this.state).filter((r) => familyOf(r.dst) === family && (table === 'all' || r.table === table) && (filter.protocol === undefined || r.protocol === filter.protocol)),
    );
  }

  /** Static routes plus the kernel's connected routes of up links; a route through a nexthop object reads back with its gateway and device. */
  private allRoutes(s: State): Route[] {
    const connected: Route[] = s.addresses
      .filter((a) => s.links.find((l) => l.name === a.dev)?.up && a.dev !== 'lo')
      .map((a) => ({ dst: connectedCidr(a), dev: a.dev, table: 254, protocol: 2, type: 'unicast' as const, src: a.ip, scope: 'link' as const }));
    // Stored with the id alone, as the kernel dumps them without compat mode.
    return [...connected, ...withNexthopDetail(s.routes, s.nexthops)];
  }

  nexthops(): Promise<Nexthop[]> {
    if (!this.nexthopsSupported) return Promise.reject(new KubeRouterError(ErrorCode.Unsupported, 'fake: this kernel has no nexthop objects'));
    return Promise.resolve(this.state.nexthops.map((n) => ({ ...n })));
  }

  /** Test hook: another tool's nexthop object (FRR's, say). */
  addNexthopAsOther(n: Nexthop): void {
    // (a group or blackhole of another tool's has no gateway: it only takes its id)
    this.state.nexthops.push(n);
  }

  links(): Promise<Link[]> {
    return Promise.resolve(this.state.links.map((l) => ({ ...l })));
  }

  addresses(family: Family): Promise<Address[]> {
    return Promise.resolve(this.state.addresses.filter((a) => familyOf(a.ip) === family));
  }

  rules(family: Family): Promise<RouteRule[]> {
    return Promise.resolve(this.state.rules.filter((r) => r.family === family).sort((a, b) => a.priority - b.priority));
  }

  private readonly deletionWatchers = new Set<{ protocol: number; fn: () => void }>();

  watchRouteDeletions(protocol: number, onDeleted: () => void): () => void {
    const w = { protocol, fn: onDeleted };
    this.deletionWatchers.add(w);
    return () => this.deletionWatchers.delete(w);
  }

  /** Test hook: another tool deletes a route. */
  deleteRouteAsOther(dst: string): void {
    const gone = this.state.routes.filter((r) => r.dst === dst);
    this.state.routes = this.state.routes.filter((r) => r.dst !== dst);
    for (const r of gone) for (const w of this.deletionWatchers) if (w.protocol === r.protocol) w.fn();
  }

  /** Test hook: add a link as another tool (or the kernel) would. */
  addLink(name: string, opts: Partial<Omit<Link, 'name' | 'index'>> = {}): void {
    this.state.links.push({ name, index: this.nextIndex++, mtu: opts.mtu ?? 1500, up: opts.up ?? true, ...(opts.kind ? { kind: opts.kind } : {}) });
  }

  apply(ops: readonly NetOp[]): Promise<void> {
    const lines = ops.map(renderOp);
    this.batches.push(lines);
    const s: State = { links: this.state.links.map((l) => ({ ...l })), addresses: [...this.state.addresses], routes: [...this.state.routes], rules: [...this.state.rules], nexthops: [...this.state.nexthops] };
    try {
      ops.forEach((o, i) => this.applyOne(s, o, i + 1, lines[i] as string));
      this.state = s;
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private applyOne(s: State, o: NetOp, n: number, line: string): void {
    const fail = (code: (typeof ErrorCode)[keyof typeof ErrorCode], why: string): never => {
      throw new KubeRouterError(code, `fake ip -batch failed at line ${n} (${line}): ${why}`, { line: n, failingLine: line, stderr: why });
    };
    const link = (name: string): Link => s.links.find((l) => l.name === name) ?? fail(ErrorCode.NotFound, `Cannot find device "${name}"`);
    // A gateway is reachable on a connected subnet (of `dev` when given), unless onlink.
    const deviceTowards = (gw: IP, dev: string | undefined): string | undefined => this.allRoutes(s).find((x) => x.table === 254 && x.protocol === 2 && cidrContains(x.dst, gw) && (!dev || x.dev === dev))?.dev;
    switch (o.op) {
      case 'nexthop-add': {
        const n = o.nexthop;
        if (!this.nexthopsSupported) fail(ErrorCode.Unsupported, 'Error: Unknown command "nexthop"');
        link(n.dev);
        if (n.id <= 0 || n.id > 0xffffffff) fail(ErrorCode.Invalid, 'Error: Invalid nexthop id');
        if (s.nexthops.some((x) => x.id === n.id)) fail(ErrorCode.AlreadyExists, 'RTNETLINK answers: File exists');
        if (!n.onlink && !deviceTowards(n.gateway, n.dev)) fail(ErrorCode.ToolFailed, 'Error: Nexthop has invalid gateway.');
        s.nexthops = [...s.nexthops, { ...n }];
        return;
      }
      case 'nexthop-delete': {
        if (!s.nexthops.some((x) => x.id === o.id)) fail(ErrorCode.NotFound, 'Error: Nexthop id does not exist.');
        s.nexthops = s.nexthops.filter((x) => x.id !== o.id);
        s.routes = s.routes.filter((r) => r.nexthop !== o.id);
        return;
      }
      case 'route-replace': {
        const r = o.route;
        if (r.nexthop !== undefined) {
          const n = s.nexthops.find((x) => x.id === r.nexthop);
          if (!n) fail(ErrorCode.Invalid, 'Error: Nexthop id does not exist.');
          // An IPv4 route may go through an IPv6 gateway (RFC 5549); not the other way round.
          else if (n.gateway && familyOf(n.gateway) === 4 && familyOf(r.dst) === 6) fail(ErrorCode.Invalid, 'Error: IPv6 routes can not use an IPv4 nexthop.');
          s.routes = s.routes.filter((x) => !sameRoute(x, r));
          s.routes.push({ dst: r.dst, table: r.table, protocol: r.protocol, type: r.type ?? 'unicast', nexthop: r.nexthop });
          return;
        }
        if (r.dev) link(r.dev);
        let dev = r.dev;
        if (r.gateway && !r.onlink) {
          const via = deviceTowards(r.gateway, dev);
          if (!via) fail(ErrorCode.ToolFailed, 'Nexthop has invalid gateway');
          dev ??= via;
        }
        if (!dev && r.type !== 'blackhole') fail(ErrorCode.ToolFailed, 'no device for route');
        s.routes = s.routes.filter((x) => !sameRoute(x, r));
        s.routes.push({ ...r, ...(dev ? { dev } : {}), type: r.type ?? 'unicast' });
        return;
      }
      case 'route-delete': {
        const idx = s.routes.findIndex((x) => sameRoute(x, o.route) && x.protocol === o.route.protocol);
        if (idx < 0) fail(ErrorCode.NotFound, 'RTNETLINK answers: No such process');
        s.routes.splice(idx, 1);
        return;
      }
      case 'addr-add':
        link(o.dev);
        if (s.addresses.some((a) => a.dev === o.dev && a.ip === o.ip)) fail(ErrorCode.AlreadyExists, 'RTNETLINK answers: File exists');
        s.addresses.push({ dev: o.dev, ip: o.ip, prefix: o.prefix });
        return;
      case 'addr-delete': {
        const idx = s.addresses.findIndex((a) => a.dev === o.dev && a.ip === o.ip);
        if (idx < 0) fail(ErrorCode.NotFound, 'RTNETLINK answers: Cannot assign requested address');
        s.addresses.splice(idx, 1);
        return;
      }
      case 'link-add-bridge':
      case 'link-add-dummy':
      case 'link-add-vxlan':
      case 'link-add-ipip': {
        if (s.links.some((l) => l.name === o.name)) fail(ErrorCode.AlreadyExists, 'RTNETLINK answers: File exists');
        if (o.name.length > 15) fail(ErrorCode.Invalid, `"${o.name}" is not a valid device name`);
        const kind = o.op === 'link-add-bridge' ? 'bridge' : o.op === 'link-add-dummy' ? 'dummy' : o.op === 'link-add-vxlan' ? 'vxlan' : familyOf(o.local) === 4 ? 'ipip' : 'ip6tnl';
        s.links.push({ name: o.name, index: this.nextIndex++, kind, mtu: kind === 'vxlan' ? 1450 : kind === 'bridge' ? 1500 : 1480, up: false });
        return;
      }
      case 'fou-add':
        return;
      case 'neigh-replace':
        link(o.dev);
        if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(o.mac)) fail(ErrorCode.Invalid, `"${o.mac}" is not a MAC address`);
        return;
      case 'link-set': {
        const l = link(o.name);
        if (o.master !== undefined && link(o.master).kind !== 'bridge') fail(ErrorCode.ToolFailed, 'master is not a bridge');
        const i = s.links.indexOf(l);
        s.links[i] = { ...l, ...(o.up !== undefined ? { up: o.up } : {}), ...(o.mtu !== undefined ? { mtu: o.mtu } : {}), ...(o.master !== undefined ? { master: o.master } : {}) };
        return;
      }
      case 'link-delete': {
        const l = link(o.name);
        s.links = s.links.filter((x) => x !== l);
        s.addresses = s.addresses.filter((a) => a.dev !== o.name);
        const gone = new Set(s.nexthops.filter((n) => n.dev === o.name).map((n) => n.id));
        s.nexthops = s.nexthops.filter((n) => !gone.has(n.id));
        s.routes = s.routes.filter((r) => r.dev !== o.name && !(r.nexthop !== undefined && gone.has(r.nexthop)));
        return;
      }
      case 'rule-add':
        if (s.rules.some((r) => sameRule(r, o.rule))) fail(ErrorCode.AlreadyExists, 'RTNETLINK answers: File exists');
        if (o.rule.from && cidrParts(o.rule.from).family !== o.rule.family) fail(ErrorCode.Invalid, 'family mismatch');
        s.rules.push(o.rule);
        return;
      case 'rule-delete': {
        const idx = s.rules.findIndex((r) => sameRule(r, o.rule));
        if (idx < 0) fail(ErrorCode.NotFound, 'RTNETLINK answers: No such file or directory');
        s.rules.splice(idx, 1);
        return;
      }
      default:
        return assertNever(o, 'net op');
    }
  }
}

