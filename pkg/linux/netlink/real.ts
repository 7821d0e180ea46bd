import { ErrorCode, isKubeRouterError, KubeRouterError } from '../../util/errors.js';
import { ENODEV, NetlinkError, type OpenNetlinkSocket } from '../genl/socket.js';
import { inNetns, loadLibc, type Libc } from '../libc.js';
import { openRouteWriter, type RouteWriter, type RtnlWrite } from './rtnl.js';
import { restoreFailure } from '../restore-error.js';
import { parseCIDR, tryParseCIDR, tryParseIP, type CIDR, type Family } from '../../util/ip.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { stderrOf, type Exec } from '../exec.js';
import { asNumber, asString, ownValue } from '../../util/json.js';
import { renderOp } from './render.js';
import { lacksNexthopDetail, withNexthopDetail } from './through-nexthop.js';
import type { Address, Link, Netlink, NetOp, Nexthop, Route, RouteRule } from './types.js';

const TABLE_IDS: Readonly<Record<string, number>> = { main: 254, local: 255, default: 253 };

function tableId(v: unknown): number {
  if (v === undefined) return 254;
  if (typeof v === 'number') return v;
  const s = asString(v) ?? 'main';
  return ownValue(TABLE_IDS, s) ?? Number(s);
}

function protoId(v: unknown): number {
  const names: Record<string, number> = { redirect: 1, kernel: 2, boot: 3, static: 4, ra: 9, dhcp: 16, zebra: 11, bird: 12, bgp: 186 };
  if (typeof v === 'number') return v;
  const s = asString(v) ?? 'boot';
  return names[s] ?? (/^\d+$/.test(s) ? Number(s) : 0);
}

function dstOf(v: unknown, family: Family): CIDR {
  const s = asString(v) ?? '';
  if (s === 'default') return family === 4 ? ('0.0.0.0/0' as CIDR) : ('::/0' as CIDR);
  return tryParseCIDR(s) ?? parseCIDR(`${s}/${family === 4 ? 32 : 128}`);
}

type J = Record<string, unknown>;

/** Our own rtnetlink socket for route writes: how to open it, and in which namespace (default: ours). */
export interface RtnlOptions {
  readonly sockets: OpenNetlinkSocket;
  readonly netns?: string;
  /** Writes from a worker thread (the daemon) or this one (default). */
  readonly writesFrom?: 'thread' | 'worker';
}

/**
 * rtnetlink. With `rtnl`: routes and addresses written, and routes, links, addresses and rules read,
 * over our own socket (no process); links, rules and neighbours written through iproute2's `ip -batch -`.
 * Without: everything through iproute2 (`ip -batch -` for writes, `ip -j` for reads).
 */
export class RealNetlink implements Netlink {
  private writer: RouteWriter | undefined;

  constructor(
    private readonly exec: Exec,
    private readonly rtnl?: RtnlOptions,
    /** Without `rtnl`: the named namespace `exec` runs in, for the processes it cannot run (`ip monitor`). */
    private readonly netns?: string,
  ) {}

  private routeWriter(rtnl: RtnlOptions): RouteWriter {
    if (this.writer) return this.writer;
    let libc: Libc | undefined;
    const ifindex = (name: string): number => {
      const c = (libc ??= loadLibc());
      return rtnl.netns ? inNetns(c, rtnl.netns, () => c.ifNameToIndex(name)) : c.ifNameToIndex(name);
    };
    this.writer = openRouteWriter(rtnl.sockets, { ifindex, ...(rtnl.netns ? { netns: rtnl.netns } : {}), ...(rtnl.writesFrom ? { writesFrom: rtnl.writesFrom } : {}) });
    return this.writer;
  }

  warm(): void {
    if (this.rtnl) this.routeWriter(this.rtnl).warm();
  }

  /**
   * With writes from the netlink worker: the worker watches a filtered netlink socket (route-watch.ts),
   * falling back to `ip monitor` if that cannot run. Otherwise: `ip monitor`.
   */
  watchRouteDeletions(protocol: number, onDeleted: () => void): () => void {
    const watch = this.rtnl ? this.routeWriter(this.rtnl).watchDeletions : undefined;
    if (!watch) return this.watchWithIpMonitor(protocol, onDeleted);
    let stop = watch({
      protocol,
      onDeleted,
      onFailed: () => {
        stop = this.watchWithIpMonitor(protocol, onDeleted);
      },
    });
    return () => stop();
  }

  /** `ip -o monitor route`, restarted if it ends; one line per change, deletions start with "Deleted". */
  private watchWithIpMonitor(protocol: number, onDeleted: () => void): () => void {
    let stopped = false;
    let child: ChildProcess | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const start = (): void => {
      if (stopped) return;
      const ns = this.rtnl?.netns ?? this.netns;
      const c = spawn('ip', [...(ns ? ['-n', ns] : []), '-o', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
      child = c;
      let buf = '';
      c.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        if (lines.some((l) => l.startsWith('Deleted ') && new RegExp(`\\bproto ${protocol}\\b`).test(l))) onDeleted();
      });
      c.on('error', () => undefined);
      c.on('exit', () => {
        if (!stopped) timer = setTimeout(start, 1000);
      });
    };
    start();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      child?.kill();
    };
  }

  private async json(args: string[]): Promise<J[]> {
    const out = (await this.exec.run(['ip', '-j', ...args])).stdout.trim();
    return out === '' ? [] : (JSON.parse(out) as J[]);
  }

  async routes(family: Family, filter: { table?: number | 'all'; protocol?: number } = {}): Promise<Route[]> {
    if (this.rtnl) {
      const table = filter.table ?? 254;
      return (await this.routeWriter(this.rtnl).routes(family)).filter((r) => (table === 'all' || r.table === table) && (filter.protocol === undefined || r.protocol === filter.protocol));
    }
    const args = [`-${family}`, 'route', 'show', 'table', String(filter.table ?? 'main')];
    if (filter.protocol !== undefined) args.push('proto', String(filter.protocol));
    // A table nobody has put a route in yet does not exist: it has no routes (not an error).
    const rows = await this.json(args).catch((e: unknown) => {
      if (/FIB table does not exist/.test(stderrOf(e))) return [];
      throw e;
    });
    const routes = rows.map((r): Route => {
      const gwText = asString(r['gateway']);
      const gw = gwText !== undefined ? tryParseIP(gwText) : undefined;
      const srcText = asString(r['prefsrc']);
      const src = srcText !== undefined ? tryParseIP(srcText) : undefined;
      const type = r['type'] === 'local' || r['type'] === 'blackhole' ? r['type'] : 'unicast';
      return {
        dst: dstOf(r['dst'], family),
        table: filter.table === 'all' ? tableId(r['table']) : typeof filter.table === 'number' ? filter.table : 254,
        // iproute2 leaves out the field it filtered on
        protocol: filter.protocol ?? protoId(r['protocol']),
        type,
        ...(gw ? { gateway: gw } : {}),
        ...(asString(r['dev']) !== undefined ? { dev: asString(r['dev']) as string } : {}),
        ...(src ? { src } : {}),
        ...(Array.isArray(r['flags']) && r['flags'].includes('onlink') ? { onlink: true } : {}),
        ...(typeof r['nhid'] === 'number' ? { nexthop: r['nhid'] } : {}),
      };
    });
    // With net.ipv4.nexthop_compat_mode=0 a route through a nexthop object carries only its id.
    return routes.some(lacksNexthopDetail) ? withNexthopDetail(routes, await this.nexthops()) : routes;
  }

  async nexthops(): Promise<Nexthop[]> {
    if (this.rtnl) return this.routeWriter(this.rtnl).nexthops();
    const rows = await this.json(['nexthop', 'show']).catch((e: unknown) => {
      // iproute2 or a kernel older than 5.3
      if (/Unknown command|Object "nexthop" is unknown|Operation not supported/i.test(stderrOf(e))) throw new KubeRouterError(ErrorCode.Unsupported, 'nexthop objects are not supported here', {}, { cause: e });
      throw e;
    });
    return rows.flatMap((n): Nexthop[] => {
      const id = asNumber(n['id']);
      if (id === undefined) return [];
      const gwText = asString(n['gateway']);
      const gateway = gwText !== undefined ? tryParseIP(gwText) : undefined;
      const dev = asString(n['dev']);
      return [{ id, protocol: protoId(n['protocol']), ...(gateway ? { gateway } : {}), ...(dev !== undefined ? { dev } : {}), ...(Array.isArray(n['flags']) && n['flags'].includes('onlink') ? { onlink: true } : {}) }];
    });
  }

  async links(): Promise<Link[]> {
    if (this.rtnl) return this.routeWriter(this.rtnl).links();
    return (await this.json(['-d', 'link', 'show'])).map((l) => {
      const info = l['linkinfo'] as J | undefined;
      return {
        name: String(l['ifname']),
        index: Number(l['ifindex']),
        mtu: Number(l['mtu']),
        up: Array.isArray(l['flags']) && l['flags'].includes('UP'),
        ...(asString(info?.['info_kind']) !== undefined ? { kind: asString(info?.['info_kind']) as string } : {}),
        ...(asString(l['master']) !== undefined ? { master: asString(l['master']) as string } : {}),
      };
    });
  }

  async addresses(family: Family): Promise<Address[]> {
    if (this.rtnl) return this.routeWriter(this.rtnl).addresses(family);
    const out: Address[] = [];
    for (const l of await this.json(['-d', `-${family}`, 'address', 'show'])) {
      for (const a of (l['addr_info'] as J[] | undefined) ?? []) {
        const ip = tryParseIP(String(a['local']));
        if (ip) out.push({ dev: String(l['ifname']), ip, prefix: Number(a['prefixlen']) });
      }
    }
    return out;
  }

  async rules(family: Family): Promise<RouteRule[]> {
    if (this.rtnl) return this.routeWriter(this.rtnl).rules(family);
    return (await this.json([`-${family}`, 'rule', 'show'])).map((r) => {
      const srcText = asString(r['src']);
      const from = srcText !== undefined && srcText !== 'all' ? tryParseCIDR(`${srcText}/${asNumber(r['srclen']) ?? (family === 4 ? 32 : 128)}`) : undefined;
      return {
        family,
        priority: Number(r['priority']),
        table: tableId(r['table']),
        ...(from ? { from } : {}),
        ...(r['fwmark'] !== undefined ? { fwmark: Number(r['fwmark']) } : {}),
      };
    });
  }

  async apply(ops: readonly NetOp[]): Promise<void> {
    const rtnl = this.rtnl;
    if (!rtnl) return this.applyIp(ops);
    // In order, in runs: routes and addresses over our socket, the rest (links, rules, neighbours) through ip -batch.
    const isRoute = (o: NetOp): boolean => o.op === 'route-replace' || o.op === 'route-delete' || o.op === 'addr-add' || o.op === 'addr-delete' || o.op === 'nexthop-add' || o.op === 'nexthop-delete';
    for (let i = 0; i < ops.length; ) {
      const first = ops[i] as NetOp;
      let j = i;
      while (j < ops.length && isRoute(ops[j] as NetOp) === isRoute(first)) j++;
      const run = ops.slice(i, j);
      if (isRoute(first)) await this.writeRoutes(rtnl, run);
      else await this.applyIp(run);
      i = j;
    }
  }

  /** Every write is tried (unlike ip -batch, one failure does not stop the rest); the first failure is thrown, with the count. */
  private async writeRoutes(rtnl: RtnlOptions, ops: readonly NetOp[]): Promise<void> {
    const writes = ops.flatMap((o): RtnlWrite[] => {
      switch (o.op) {
        case 'route-replace':
          return [{ op: 'replace', route: o.route }];
        case 'route-delete':
          return [{ op: 'delete', route: o.route }];
        case 'addr-add':
          return [{ op: 'add-address', dev: o.dev, ip: o.ip, prefix: o.prefix }];
        case 'addr-delete':
          return [{ op: 'delete-address', dev: o.dev, ip: o.ip, prefix: o.prefix }];
        case 'nexthop-add':
          return [{ op: 'add-nexthop', nexthop: o.nexthop }];
        case 'nexthop-delete':
          return [{ op: 'delete-nexthop', id: o.id }];
        case 'fou-add':
        case 'link-add-bridge':
        case 'link-add-dummy':
        case 'link-add-ipip':
        case 'link-add-vxlan':
        case 'link-delete':
        case 'link-set':
        case 'neigh-replace':
        case 'rule-add':
        case 'rule-delete':
          return []; // (never here: apply() sends these through ip -batch)
      }
    });
    const results = await this.routeWriter(rtnl).write(writes);
    const failed = results.flatMap((e, i) => (e ? [{ e, w: writes[i] as RtnlWrite }] : []));
    const first = failed[0];
    if (!first) return;
    const errno = first.e instanceof NetlinkError ? first.e.errno : undefined;
    // A route's device that is gone is a missing thing, as ip -batch reports it.
    const code = errno === ENODEV ? ErrorCode.NotFound : first.e.code;
    const what = renderOp(netOpOf(first.w));
    throw new KubeRouterError(code, `rtnetlink: ${failed.length} of ${writes.length} writes failed; first: ${what}: ${first.e.message}`, { failed: failed.length }, { cause: first.e });
  }

  private async applyIp(ops: readonly NetOp[]): Promise<void> {
    const v6rules = ops.filter((o) => ((o.op === 'rule-add' || o.op === 'rule-delete') && o.rule.family === 6) || (o.op === 'fou-add' && o.family === 6));
    const rest = ops.filter((o) => !v6rules.includes(o));
    await this.batch([], rest);
    await this.batch(['-6'], v6rules);
  }

  private async batch(global: string[], ops: readonly NetOp[]): Promise<void> {
    if (ops.length === 0) return;
    const lines = ops.map(renderOp);
    try {
      await this.exec.run(['ip', ...global, '-batch', '-'], { stdin: lines.join('\n') + '\n', timeoutMs: 120_000 });
    } catch (e) {
      if (!isKubeRouterError(e, ErrorCode.ToolFailed)) throw e;
      const stderr = stderrOf(e);
      const code = /No such process|Cannot find device|No such file|not found/i.test(stderr) ? ErrorCode.NotFound : /File exists/.test(stderr) ? ErrorCode.AlreadyExists : ErrorCode.ToolFailed;
      throw restoreFailure('ip -batch', lines.join('\n'), stderr, /Command failed -:(\d+)/, code);
    }
  }
}

/** The op a write came from, for error messages (as `ip -batch` would have it). */
function netOpOf(w: RtnlWrite): NetOp {
  switch (w.op) {
    case 'replace':
      return { op: 'route-replace', route: w.route };
    case 'delete':
      return { op: 'route-delete', route: w.route };
    case 'add-address':
      return { op: 'addr-add', dev: w.dev, ip: w.ip, prefix: w.prefix };
    case 'delete-address':
      return { op: 'addr-delete', dev: w.dev, ip: w.ip, prefix: w.prefix };
    case 'add-nexthop':
      return { op: 'nexthop-add', nexthop: w.nexthop };
    case 'delete-nexthop':
      return { op: 'nexthop-delete', id: w.id };
  }
}
