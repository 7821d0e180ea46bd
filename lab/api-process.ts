#!/usr/bin/env node
/**
 * The lab's API server: the API server fixture plus the lab's control-plane stand-ins (service IP and
 * port allocation, EndpointSlices). Run inside the lab's API namespace by `lab up`.
 *   node dist/lab/api-process.js --listen 198.18.0.2:6443 --socket DIR/api.sock --service-cidr C [--service-cidr6 C] --lb-range C
 */
import { ApiServerFixture } from '../fixture/apiserver/server.js';
import { RESOURCES, resourceByKind } from '../fixture/apiserver/resources.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { JsonObject } from '../fixture/apiserver/index.js';
import { runEndpointSliceController } from './control-plane/endpoint-slices.js';
import { serviceIpam } from './control-plane/service-ipam.js';

const args = process.argv.slice(2);
const opt = (n: string): string | undefined => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const listen = opt('--listen') ?? '127.0.0.1:6443';
const sep = listen.lastIndexOf(':');
const api = new ApiServerFixture({ host: listen.slice(0, sep), port: Number(listen.slice(sep + 1)), socketPath: opt('--socket') ?? '/tmp/lab-api.sock', bookmarkIntervalMs: 2000 });
const svc = resourceByKind('Service')!;
const cidr6 = opt('--service-cidr6');
api.store.admit = serviceIpam({ serviceCidr: opt('--service-cidr') ?? '198.18.128.0/20', ...(cidr6 ? { serviceCidr6: cidr6 } : {}), lbRange: opt('--lb-range') ?? '198.19.1.0/24', nodePortMin: 30000, nodePortMax: 32767 }, () => api.store.list(svc));
// --state FILE: objects survive a restart of this process (the soak restarts the API server): loaded
// at start when the file exists, written on SIGTERM.
const stateFile = opt('--state');
if (stateFile && existsSync(stateFile)) {
  const order = ['Namespace', 'Node', 'Service', 'Pod', 'EndpointSlice', 'NetworkPolicy'];
  const objs = (JSON.parse(readFileSync(stateFile, 'utf8')) as JsonObject[]).sort((a, b) => order.indexOf(String(a['kind'])) - order.indexOf(String(b['kind'])));
  const admit = api.store.admit;
  api.store.admit = undefined; // stored objects already carry their allocations
  let maxRv = 0;
  for (const o of objs) {
    const r = resourceByKind(String(o['kind']));
    const meta = { ...(o['metadata'] as JsonObject) };
    maxRv = Math.max(maxRv, Number(meta['resourceVersion'] ?? 0));
    delete meta['resourceVersion'];
    if (r) api.store.create(r, meta['namespace'] as string | undefined, { ...o, metadata: meta });
  }
  api.store.continueAfter(maxRv + 1);
  api.store.admit = admit;
}
runEndpointSliceController(api.store);
await api.start();
process.stdout.write(`ready ${api.url}\n`);
const stop = (): void => {
  if (stateFile) writeFileSync(stateFile, JSON.stringify(RESOURCES.filter((r) => r.kind !== 'Event' && r.kind !== 'Lease').flatMap((r) => api.store.list(r))));
  void api.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
