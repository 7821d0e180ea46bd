#!/usr/bin/env node
/**
 * Runs the daemon's Reflector (the real transport, LIST in pages, WATCH with bookmarks) against an API
 * server and prints what it saw as one JSON line every 250 ms: LIST calls, watch events by type,
 * restarts by reason, the items it holds. The control-plane lab test reads it to prove the watch layer
 * against the real kube-apiserver.
 *   node dist/test/reflector-probe.js --kubeconfig FILE --path /api/v1/namespaces/NS/configmaps
 *        [--label-selector S] [--page-size N] [--watch-timeout SEC]
 */
import { ResolvedKubeConfig } from '../pkg/k8s/resolved-kubeconfig.js';
import { KubeTransport, type ApiTransport } from '../pkg/k8s/transport.js';
import { Reflector } from '../pkg/k8s/reflector.js';
import { systemClock } from '../pkg/util/clock.js';
import { createLogger } from '../pkg/util/logger.js';

const args = process.argv.slice(2);
const opt = (n: string): string | undefined => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const counts = { lists: 0, events: {} as Record<string, number>, restarts: { error: 0, expired: 0, closed: 0 }, lastError: '' };
const real = new KubeTransport(new ResolvedKubeConfig({ kubeconfig: opt('--kubeconfig') ?? '', master: '' }));
const transport: ApiTransport = {
  server: real.server,
  create: (p, b) => real.create(p, b),
  request: (m, p, b) => real.request(m, p, b),
  list: (p, params) => {
    counts.lists++;
    return real.list(p, params).catch((e: unknown) => {
      counts.lastError = e instanceof Error ? e.message : String(e);
      throw e;
    });
  },
  watch: (p, params, onEvent, onDone) =>
    real.watch(
      p,
      params,
      (type, obj) => {
        counts.events[type] = (counts.events[type] ?? 0) + 1;
        onEvent(type, obj);
      },
      (err) => {
        if (err) counts.lastError = err instanceof Error ? err.message : JSON.stringify(err);
        onDone(err);
      },
    ),
};
const selector = opt('--label-selector');
const timeout = opt('--watch-timeout');
const r = new Reflector(
  { path: opt('--path') ?? '/api/v1/configmaps', name: 'probe', pageSize: Number(opt('--page-size') ?? 500), backoffInitialMs: 100, backoffMaxMs: 1000, ...(selector ? { labelSelector: selector } : {}), ...(timeout ? { watchTimeoutSec: Number(timeout) } : {}) },
  { transport, clock: systemClock(), logger: createLogger({ verbosity: 0 }), onRestart: (reason) => counts.restarts[reason]++ },
);
r.start();
setInterval(() => process.stdout.write(JSON.stringify({ ...counts, items: r.list().length, synced: r.synced(), watching: r.watching() }) + '\n'), 250);
process.on('SIGTERM', () => process.exit(0));
