import { mkdirSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { dirname } from 'node:path';
import type { BgpSpeaker } from '../bgp/speaker/speaker.js';

export const DEFAULT_BGP_SOCKET = '/var/run/kube-router/bgp.sock';

/**
 * Read-only inspection of the running speaker over a unix socket (local only; upstream ships the gobgp
 * CLI against GoBGP's gRPC port for this): GET /peers and GET /routes answer JSON.
 */
export async function serveInspection(path: string, speaker: () => BgpSpeaker | undefined): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  const server = createServer((req, res) => {
    const sp = speaker();
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    if (!sp) return send(503, { error: 'the BGP speaker is not running' });
    if (req.url === '/peers') return send(200, sp.status());
    if (req.url === '/routes') return send(200, [...sp.best().values()].map((p) => ({ prefix: p.prefix, nextHop: p.nextHop, peer: p.peer, asPath: p.asPath, localPref: p.localPref ?? null, communities: p.communities, stale: p.stale ?? false })));
    return send(404, { error: 'GET /peers or /routes' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return server;
}

/** `kube-router bgp peers|routes [--socket PATH] [--json]`: the client side. */
export async function inspectCommand(args: readonly string[], env: Readonly<Record<string, string | undefined>>, out: (s: string) => void): Promise<number> {
  const what = args[0];
  if (what !== 'peers' && what !== 'routes') {
    out('usage: kube-router bgp peers|routes [--socket PATH] [--json]\n');
    return 2;
  }
  const si = args.indexOf('--socket');
  const socketPath = si >= 0 ? (args[si + 1] ?? '') : env['KUBE_ROUTER_BGP_SOCKET'] || DEFAULT_BGP_SOCKET;
  const body = await new Promise<{ code: number; text: string }>((resolve, reject) => {
    const req = request({ socketPath, path: `/${what}`, method: 'GET' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  }).catch((e: unknown) => ({ code: 0, text: `cannot reach the daemon at ${socketPath}: ${e instanceof Error ? e.message : String(e)}\n` }));
  if (body.code !== 200) {
    out(body.text);
    return 1;
  }
  if (args.includes('--json')) {
    out(body.text);
    return 0;
  }
  const rows = JSON.parse(body.text) as Record<string, unknown>[];
  const cols = what === 'peers' ? ['address', 'asn', 'kind', 'state', 'received', 'accepted', 'advertised'] : ['prefix', 'nextHop', 'peer', 'asPath', 'communities', 'stale'];
  const cell = (v: unknown): string => {
    if (Array.isArray(v)) return v.join(' ');
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return v === undefined || v === null ? '' : JSON.stringify(v);
  };
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  out(cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n');
  for (const r of rows) out(cols.map((c, i) => cell(r[c]).padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n');
  return 0;
}
