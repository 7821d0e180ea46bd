import type { ProgrammedFrontend } from './backend.js';
import type { FamilyModel } from './model/types.js';

/** One service frontend: what the proxy wants and what the kernel holds. */
export interface FrontendView {
  /** `namespace/name:port-name`; `-` for a frontend in the kernel that no Service wants any more. */
  readonly service: string;
  /** `ip:port/proto` (IPv6 in brackets). */
  readonly frontend: string;
  readonly kind: string;
  readonly datapath: 'nftables' | 'ipvs';
  /** serving: the kernel sends new connections to exactly the wanted backends; rejecting: no endpoints, refused as wanted; missing / out-of-sync / stale: the next sync fixes it. */
  readonly state: 'serving' | 'rejecting' | 'missing' | 'out-of-sync' | 'stale';
  readonly wanted: readonly string[];
  readonly programmed: readonly { readonly addr: string; readonly weight?: number; readonly connections?: number }[];
}

const addr = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
const frontendText = (key: string): string => {
  const [ip, proto, port] = key.split(' . ');
  return `${addr(ip ?? '', Number(port))}/${proto ?? ''}`;
};

/**
 * Joins the proxy's model with the kernel's state, per family. `service` filters by
 * `namespace/name` (every port of it). Pure.
 */
export function explainServices(families: readonly { readonly model: FamilyModel; readonly programmed: ReadonlyMap<string, ProgrammedFrontend> }[], datapath: 'nftables' | 'ipvs', service?: string): FrontendView[] {
  const out: FrontendView[] = [];
  const matches = (svc: string): boolean => service === undefined || svc === service || svc.startsWith(`${service}:`);
  for (const { model, programmed } of families) {
    for (const [key, fe] of model.frontends) {
      if (!matches(fe.service)) continue;
      const wanted = fe.backends.map((b) => addr(b.ip, b.port)).sort();
      const got = programmed.get(key);
      const same = got !== undefined && got.backends.map((b) => b.addr).join(',') === wanted.join(',');
      const state = got === undefined ? 'missing' : wanted.length === 0 ? (got.rejected ? 'rejecting' : 'out-of-sync') : same && !got.rejected ? 'serving' : 'out-of-sync';
      out.push({ service: fe.service, frontend: frontendText(key), kind: fe.kind, datapath, state, wanted, programmed: got?.backends ?? [] });
    }
    if (service !== undefined) continue;
    for (const [key, got] of programmed) if (!model.frontends.has(key)) out.push({ service: '-', frontend: frontendText(key), kind: '-', datapath, state: 'stale', wanted: [], programmed: got.backends });
  }
  return out.sort((a, b) => a.service.localeCompare(b.service) || a.frontend.localeCompare(b.frontend));
}
