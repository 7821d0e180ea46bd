import type { SavedSet } from './types.js';

/** Parses `ipset save` output. `initval` and sizing options are dropped (kube-router #1337). */
export function parseIpsetSave(text: string): SavedSet[] {
  const sets = new Map<string, { name: string; type: string; family: 4 | 6; entries: string[] }>();
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'create' && w[1] && w[2]) {
      const fi = w.indexOf('family');
      sets.set(w[1], { name: w[1], type: w[2], family: fi >= 0 && w[fi + 1] === 'inet6' ? 6 : 4, entries: [] });
    } else if (w[0] === 'add' && w[1]) {
      sets.get(w[1])?.entries.push(w.slice(2).join(' '));
    }
  }
  // A list:set has no family of its own: it takes its members' (an empty one stays IPv4).
  for (const s of sets.values()) {
    if (s.type !== 'list:set') continue;
    const member = s.entries.map((e) => sets.get(e)).find((m) => m !== undefined && m.type !== 'list:set');
    if (member) s.family = member.family;
  }
  return [...sets.values()];
}
