import { boundedName } from '../../util/names.js';
import { IPSET_MAX_NAME, type IpsetSpec } from './types.js';

/**
 * The temp set a sync fills before swapping: our prefix plus a hash of the real name, so it is ours,
 * deterministic, and within IPSET_MAX_NAME (8 + 22 = 30 chars).
 */
export function tempSetName(name: string): string {
  return boundedName('KRT-TMP-', name, IPSET_MAX_NAME, 22);
}

function createLine(name: string, s: IpsetSpec): string {
  const family = s.type === 'list:set' ? '' : ` family ${s.family === 4 ? 'inet' : 'inet6'}`;
  // maxelem: well above the 65536 default; a cluster-wide set can hold every pod.
  // A list:set holds 8 members unless told otherwise (its members are linked, so the size costs nothing).
  return `create ${name} ${s.type}${family}${s.type === 'list:set' ? ' size 65536' : ' hashsize 1024 maxelem 1048576'}`;
}

/** `create` line for a set (with `-exist` a no-op when it already exists with the same type). */
export function renderCreate(s: IpsetSpec): string {
  return createLine(s.name, s);
}

/**
 * Restore input that makes each set hold exactly its entries without ever being seen empty or half
 * filled: create the set if missing, fill a temp set, swap, destroy the temp (kube-router #1068).
 * Sorted, so the same sets always render the same text.
 */
export function renderSetSync(sets: readonly IpsetSpec[]): string {
  const out: string[] = [];
  for (const s of [...sets].sort((a, b) => a.name.localeCompare(b.name))) {
    const tmp = tempSetName(s.name);
    out.push(createLine(s.name, s));
    out.push(createLine(tmp, s));
    out.push(`flush ${tmp}`);
    for (const e of [...s.entries].sort()) out.push(`add ${tmp} ${e}`);
    out.push(`swap ${tmp} ${s.name}`);
    out.push(`destroy ${tmp}`);
  }
  return out.join('\n') + '\n';
}

/** Incremental membership change of one existing set (no swap needed: each add/del is atomic). */
export function renderSetDelta(name: string, add: readonly string[], del: readonly string[]): string {
  return [...[...del].sort().map((e) => `del ${name} ${e}`), ...[...add].sort().map((e) => `add ${name} ${e}`)].join('\n') + '\n';
}

/** `destroy` lines in the order given (a list:set must go before the sets it holds). */
export function renderDestroy(names: readonly string[]): string {
  return names.map((n) => `destroy ${n}`).join('\n') + '\n';
}
