import type { ProgrammedFrontend } from '../backend.js';
import { canonicalElement } from '../../linux/nftables/types.js';

/**
 * Frontends as the kernel holds them, from the dispatch map (`ip . proto . port : goto svc-N...`), the
 * no-endpoints set and each handler chain's endpoint map (`ip . proto . port . index : ip . port`). Pure.
 */
export function parseProgrammed(dispatch: readonly string[], noEndpoints: readonly string[], endpointMaps: ReadonlyMap<string, readonly string[]>): Map<string, ProgrammedFrontend> {
  const out = new Map<string, { backends: { addr: string }[]; rejected: boolean }>();
  const byChain = new Map<string, Map<string, string[]>>();
  for (const [chain, elements] of endpointMaps) {
    const m = new Map<string, string[]>();
    for (const e of elements) {
      const [key, value] = canonicalElement(e).split(' : ');
      const parts = (key ?? '').split(' . ');
      const fe = parts.slice(0, 3).join(' . ');
      const [ip, port] = (value ?? '').split(' . ');
      if (!ip || !port) continue;
      const list = m.get(fe) ?? [];
      list.push(ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
      m.set(fe, list);
    }
    byChain.set(chain, m);
  }
  for (const e of dispatch) {
    const [key, verdict] = canonicalElement(e).split(' : ');
    const chain = /goto (\S+)$/.exec(verdict ?? '')?.[1];
    if (!key || !chain) continue;
    out.set(key, { backends: (byChain.get(chain)?.get(key) ?? []).sort().map((addr) => ({ addr })), rejected: false });
  }
  for (const e of noEndpoints) out.set(canonicalElement(e), { backends: [], rejected: true });
  return out;
}
