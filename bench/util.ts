import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from '../fixture/apiserver/store.js';
import { startInNetns, type NsProcess } from '../test/ns-process.js';
import { FIXTURE_BIN } from '../test/paths.js';

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/** utime+stime+cutime+cstime of a process, in ms (children counted once they are reaped). */
export function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  const tick = 100; // USER_HZ on Linux
  return ((Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) * 1000) / tick;
}

export function rssMiB(pid: number): { rss: number; peak: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

export function verdict(name: string, value: number, ok: boolean, target: string): string {
  return `${ok ? 'PASS' : 'MISS'}  ${name} = ${Number.isFinite(value) ? Math.round(value * 100) / 100 : value}  (target ${target})`;
}

/**
 * The API fixture inside a benchmark's netns, preloaded with `objs`, and a kubeconfig for the daemon
 * at `DIR/kubeconfig`. Resolves once the fixture has loaded everything.
 */
export async function startBenchApi(ns: string, dir: string, objs: readonly JsonObject[], listen = '127.0.0.1:16443'): Promise<NsProcess> {
  writeFileSync(join(dir, 'preload.json'), JSON.stringify(objs));
  writeFileSync(join(dir, 'kubeconfig'), ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: b', `  cluster: {server: "http://${listen}", insecure-skip-tls-verify: true}`, 'users:', '- name: b', '  user: {}', 'contexts:', '- name: b', '  context: {cluster: b, user: b}', 'current-context: b', ''].join('\n'));
  const api = startInNetns(ns, ['node', '--max-old-space-size=4096', FIXTURE_BIN, '--listen', listen, '--socket', join(dir, 'api.sock'), '--preload', join(dir, 'preload.json'), '--bookmark-ms', '5000']);
  try {
    await api.waitForOutput(/ready/, 120_000);
  } catch (e) {
    await api.stop();
    throw e;
  }
  return api;
}
