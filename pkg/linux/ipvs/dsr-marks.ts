/**
 * Firewall marks for DSR frontends, as upstream: FNV-1a (32-bit) of `ip-proto-port`, kept to 14 bits,
 * the next free one on collision (never 0). Assigned in sorted order of the members, so the same set of
 * frontends always gets the same marks, on every node and after a restart. Pure.
 */
export function assignFwmarks(entries: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const e of [...new Set(entries)].sort()) {
    const m = /^(.+),(tcp|udp|sctp):(\d+)$/.exec(e);
    let h = 0x811c9dc5;
    for (const ch of Buffer.from(m ? `${m[1]}-${m[2]}-${m[3]}` : e)) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
    let mark = h & 0x3fff;
    for (let i = 0; (mark === 0 || used.has(mark)) && i <= 0x3fff; i++) mark = (mark + 1) & 0x3fff;
    used.add(mark);
    out.set(e, mark);
  }
  return out;
}
