import { request } from 'node:http';
import { inspectSocketOf } from '../pkg/options/load-config.js';

/** The commands that read the running daemon over its local socket, and the view each asks for. */
const VIEWS: Readonly<Record<string, { readonly path: string; readonly columns: readonly string[] }>> = {
  'bgp peers': { path: '/bgp/peers', columns: ['address', 'asn', 'kind', 'state', 'received', 'accepted', 'advertised', 'bfd'] },
  'bgp routes': { path: '/bgp/routes', columns: ['prefix', 'nextHop', 'peer', 'asPath', 'communities', 'stale'] },
  'proxy services': { path: '/proxy/services', columns: ['service', 'frontend', 'kind', 'datapath', 'state', 'programmed'] },
  'netpol explain': { path: '/netpol/explain', columns: ['direction', 'pod', 'verdict', 'tier', 'decidedBy'] },
  routes: { path: '/routes', columns: ['kind', 'table', 'what', 'via', 'dev', 'nexthop', 'state', 'reason', 'peer'] },
};

export const INSPECT_USAGE = 'usage: kube-router bgp peers|routes | proxy services [NAMESPACE/NAME] | routes | netpol explain --from NS/POD|IP --to NS/POD|IP --port PORT[/PROTO]   [--socket PATH] [--json]\n';

/** Flags of the inspection commands that take a value. */
const VALUE_FLAGS = ['--socket', '--from', '--to', '--port'];

/** Whether argv is one of the inspection commands (not daemon flags). */
export function isInspectCommand(argv: readonly string[]): boolean {
  return argv[0] === 'bgp' || argv[0] === 'proxy' || argv[0] === 'routes' || argv[0] === 'netpol';
}

/** A peer's BFD session in one cell: its state and the detection time in force (`Up/900ms`). */
function bfdCell(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  return typeof r['state'] === 'string' && typeof r['detectionTimeMs'] === 'number' ? `${r['state']}/${r['detectionTimeMs']}ms` : undefined;
}

function cell(v: unknown): string {
  const bfd = bfdCell(v);
  if (bfd !== undefined) return bfd;
  if (Array.isArray(v)) return v.map((x: unknown) => (x !== null && typeof x === 'object' && typeof (x as Record<string, unknown>)['addr'] === 'string' ? ((x as Record<string, unknown>)['addr'] as string) : cell(x))).join(' ');
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return v === undefined || v === null ? '' : JSON.stringify(v);
}

/**
 * `kube-router bgp peers|routes`, `kube-router proxy services [NS/NAME]`, `kube-router routes`:
 * read-only views of the running daemon, from its local socket (KUBE_ROUTER_SOCKET), as a table or
 * `--json`. Exit 0, 1 when the daemon cannot answer, 2 on a usage error.
 */
export async function inspectCommand(args: readonly string[], env: Readonly<Record<string, string | undefined>>, out: (s: string) => void): Promise<number> {
  const words = args.filter((a, i) => !a.startsWith('--') && !VALUE_FLAGS.includes(args[i - 1] ?? ''));
  const name = words[0] === 'routes' ? 'routes' : `${words[0] ?? ''} ${words[1] ?? ''}`;
  const view = Object.hasOwn(VIEWS, name) ? VIEWS[name] : undefined;
  const extra = words.slice(name === 'routes' ? 1 : 2);
  if (!view || extra.length > (name === 'proxy services' ? 1 : 0)) {
    out(INSPECT_USAGE);
    return 2;
  }
  const si = args.indexOf('--socket');
  const socketPath = si >= 0 ? (args[si + 1] ?? '') : inspectSocketOf(env);
  const flag = (f: string): string => (args.includes(f) ? (args[args.indexOf(f) + 1] ?? '') : '');
  if (name === 'netpol explain' && (flag('--from') === '' || flag('--to') === '' || flag('--port') === '')) {
    out(INSPECT_USAGE);
    return 2;
  }
  const query =
    name === 'proxy services' && extra[0]
      ? `?service=${encodeURIComponent(extra[0])}`
      : name === 'netpol explain'
        ? `?${new URLSearchParams({ from: flag('--from'), to: flag('--to'), port: flag('--port') }).toString()}`
        : '';
  const body = await new Promise<{ code: number; text: string }>((resolve, reject) => {
    const req = request({ socketPath, path: view.path + query, method: 'GET', timeout: 35_000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', reject);
    req.end();
  }).catch((e: unknown) => ({ code: 0, text: `cannot reach the daemon at ${socketPath}: ${e instanceof Error ? e.message : String(e)}\n` }));
  if (body.code !== 200) {
    out(body.text.endsWith('\n') ? body.text : body.text + '\n');
    return 1;
  }
  if (args.includes('--json')) {
    out(body.text);
    return 0;
  }
  const rows = JSON.parse(body.text) as Record<string, unknown>[];
  const cols = view.columns;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  out(cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n');
  for (const r of rows) out(cols.map((c, i) => cell(r[c]).padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n');
  return 0;
}
