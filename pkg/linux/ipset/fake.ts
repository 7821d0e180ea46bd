import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { bitsOf, cidrParts, familyOf, tryParseCIDR, tryParseIP, type Family } from '../../util/ip.js';
import type { Ipset, SavedSet } from './types.js';

interface FakeSet {
  type: string;
  family: Family;
  entries: Set<string>;
}

function canonNet(text: string, family: Family): string | undefined {
  if (!text.includes('/')) {
    const ip = tryParseIP(text);
    return ip !== undefined && familyOf(ip) === family ? ip : undefined;
  }
  const c = tryParseCIDR(text);
  if (c === undefined) return undefined;
  const p = cidrParts(c);
  if (p.family !== family || p.prefix === 0) return undefined; // hash:net cannot hold /0
  return p.prefix === bitsOf(family) ? p.ip : c;
}

function canonPort(text: string): string | undefined {
  const m = /^(?:(tcp|udp|sctp|icmp|icmpv6):)?(\d+)$/i.exec(text);
  if (!m || Number(m[2]) > 65535) return undefined;
  return `${(m[1] ?? 'tcp').toLowerCase()}:${Number(m[2])}`;
}

/** Canonical form of one entry as `ipset save` would print it, or undefined if the kernel would refuse it. */
export function canonicalEntry(type: string, family: Family, text: string): string | undefined {
  const [body = '', ...flags] = text.trim().split(/\s+/);
  const suffix = flags.length ? ' ' + flags.join(' ') : '';
  const parts = body.split(',');
  const ip = (s: string | undefined): string | undefined => {
    const v = s === undefined ? undefined : tryParseIP(s);
    return v !== undefined && familyOf(v) === family ? v : undefined;
  };
  let out: (string | undefined)[];
  switch (type) {
    case 'hash:ip':
      out = [ip(parts[0])];
      break;
    case 'hash:net':
      out = [canonNet(parts[0] ?? '', family)];
      break;
    case 'hash:ip,port':
      out = [ip(parts[0]), canonPort(parts[1] ?? '')];
      break;
    case 'hash:ip,port,ip':
      out = [ip(parts[0]), canonPort(parts[1] ?? ''), ip(parts[2])];
      break;
    case 'hash:ip,port,net':
      out = [ip(parts[0]), canonPort(parts[1] ?? ''), canonNet(parts[2] ?? '', family)];
      break;
    case 'hash:net,port':
      out = [canonNet(parts[0] ?? '', family), canonPort(parts[1] ?? '')];
      break;
    case 'list:set':
      out = [parts[0]];
      break;
    default:
      return undefined;
  }
  if (out.some((x) => x === undefined) || out.length !== parts.length) return undefined;
  return out.join(',') + suffix;
}

/**
 * In-memory ipset with `ipset -exist restore` semantics, applied to a copy and committed
 * all-or-nothing (stricter than the kernel, which stops at the failing line). Checks types,
 * families, entries, swap compatibility and list:set references.
 */
export class FakeIpset implements Ipset {
  sets = new Map<string, FakeSet>();
  readonly restores: string[] = [];

  restore(text: string): Promise<void> {
    this.restores.push(text);
    const work = new Map([...this.sets].map(([k, v]) => [k, { ...v, entries: new Set(v.entries) }]));
    const lines = text.split('\n');
    const fail = (n: number, why: string): Promise<void> =>
      Promise.reject(new KubeRouterError(ErrorCode.RestoreFailed, `fake ipset restore failed at line ${n}: ${why}`, { line: n, failingLine: lines[n - 1], stderr: why }));
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1;
      const w = (lines[i] as string).trim().split(/\s+/);
      const [cmd, name = ''] = w;
      if (!cmd) continue;
      const set = work.get(name);
      switch (cmd) {
        case 'create': {
          const type = w[2] ?? '';
          if (name.length > 31) return fail(n, 'set name too long');
          if (!['hash:ip', 'hash:net', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'hash:net,port', 'list:set'].includes(type)) return fail(n, `unknown type ${type}`);
          const fi = w.indexOf('family');
          const family: Family = fi >= 0 && w[fi + 1] === 'inet6' ? 6 : 4;
          if (set && (set.type !== type || set.family !== family)) return fail(n, 'Set cannot be created: set with the same name already exists');
          if (!set) work.set(name, { type, family, entries: new Set() });
          break;
        }
        case 'add':
        case 'del': {
          if (!set) return fail(n, 'The set with the given name does not exist');
          const e = canonicalEntry(set.type, set.family, w.slice(2).join(' '));
          if (e === undefined) return fail(n, `Syntax error: ${w.slice(2).join(' ')}`);
          if (set.type === 'list:set' && !work.has(e)) return fail(n, `Set to be added/deleted/tested as element does not exist`);
          // nomatch is a flag of the entry, not part of its identity
          const key = e.replace(/ nomatch$/, '');
          for (const x of [...set.entries]) if (x.replace(/ nomatch$/, '') === key) set.entries.delete(x);
          if (cmd === 'add') set.entries.add(e);
          break;
        }
        case 'flush':
          if (!set) return fail(n, 'The set with the given name does not exist');
          set.entries.clear();
          break;
        case 'swap': {
          const other = work.get(w[2] ?? '');
          if (!set || !other) return fail(n, 'The set with the given name does not exist');
          if (set.type !== other.type || set.family !== other.family) return fail(n, 'The sets cannot be swapped: their type does not match');
          work.set(name, other);
          work.set(w[2] as string, set);
          break;
        }
        case 'destroy':
          if (!set) return fail(n, 'The set with the given name does not exist');
          for (const [other, s] of work) if (s.type === 'list:set' && s.entries.has(name)) return fail(n, `Set cannot be destroyed: it is in use by ${other}`);
          work.delete(name);
          break;
        default:
          return fail(n, `unknown command ${cmd}`);
      }
    }
    this.sets = work;
    return Promise.resolve();
  }

  save(): Promise<SavedSet[]> {
    // As the real adapter reads it: a list:set has its members' family.
    const familyOf = (s: FakeSet): Family => (s.type === 'list:set' ? ([...s.entries].map((e) => this.sets.get(e)).find((m) => m !== undefined && m.type !== 'list:set')?.family ?? 4) : s.family);
    return Promise.resolve([...this.sets].map(([name, s]) => ({ name, type: s.type, family: familyOf(s), entries: [...s.entries].sort() })));
  }
}
