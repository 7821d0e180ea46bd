import { parseGoDuration } from './duration.js';
import type { FlagSpec, FlagValue } from './flag-spec.js';

/** One thing wrong with the command line; all of them are reported together. */
export interface UsageIssue {
  readonly flag?: string;
  readonly message: string;
}

export interface ParsedArgs {
  /** Only flags that were given; defaults are applied by the caller. */
  readonly values: ReadonlyMap<string, FlagValue>;
  readonly given: ReadonlySet<string>;
  readonly positional: readonly string[];
  readonly issues: readonly UsageIssue[];
}

// strconv.ParseBool
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

const EXPECTED: Readonly<Record<FlagSpec['kind'], string>> = {
  bool: 'true or false',
  string: 'a string',
  uint: 'a whole number',
  duration: 'a Go duration such as 90s, 1m30s or 2h22m',
  stringSlice: 'a comma-separated list',
  uintSlice: 'a comma-separated list of whole numbers',
};

export function expectedForm(spec: FlagSpec): string {
  return spec.kind === 'uint' ? `a whole number from 0 to ${spec.max}` : EXPECTED[spec.kind];
}

function parseUint(text: string, max: number): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/** Converts one occurrence's text; slices return only this occurrence's elements. */
function convert(spec: FlagSpec, text: string): FlagValue | undefined {
  switch (spec.kind) {
    case 'bool':
      return TRUE.has(text) ? { kind: 'bool', value: true } : FALSE.has(text) ? { kind: 'bool', value: false } : undefined;
    case 'string':
      return { kind: 'string', value: text };
    case 'uint': {
      const n = parseUint(text, spec.max);
      return n === undefined ? undefined : { kind: 'uint', value: n };
    }
    case 'duration': {
      const ms = parseGoDuration(text);
      return ms === undefined ? undefined : { kind: 'duration', value: ms };
    }
    case 'stringSlice':
      return { kind: 'stringSlice', value: text === '' ? [] : text.split(',').map((s) => s.trim()) };
    case 'uintSlice': {
      if (text === '') return { kind: 'uintSlice', value: [] };
      const parts = text.split(',').map((s) => parseUint(s.trim(), 4294967295));
      if (parts.some((p) => p === undefined)) return undefined;
      return { kind: 'uintSlice', value: parts as number[] };
    }
  }
}

/**
 * Parses argv with spf13/pflag's grammar, as upstream kube-router does:
 * `--name=value`, `--name value`, bare `--bool`, `--bool=false`, shorthands `-v 3`, `-v=3`, `-v3`, `-V`,
 * repeated slice flags append (the first occurrence replaces the default), `--` ends the flags.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const values = new Map<string, FlagValue>();
  const given = new Set<string>();
  const positional: string[] = [];
  const issues: UsageIssue[] = [];

  const assign = (spec: FlagSpec, text: string, shown: string): void => {
    const v = convert(spec, text);
    if (!v) {
      issues.push({ flag: spec.name, message: `invalid argument ${JSON.stringify(text)} for "${shown}" flag: expected ${expectedForm(spec)}` });
      return;
    }
    const prev = values.get(spec.name);
    if (prev && prev.kind === 'stringSlice' && v.kind === 'stringSlice') values.set(spec.name, { kind: 'stringSlice', value: [...prev.value, ...v.value] });
    else if (prev && prev.kind === 'uintSlice' && v.kind === 'uintSlice') values.set(spec.name, { kind: 'uintSlice', value: [...prev.value, ...v.value] });
    else values.set(spec.name, v);
    given.add(spec.name);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    let name = eq >= 0 ? body.slice(0, eq) : body;
    let inline: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    let spec: FlagSpec | undefined;
    if (long) spec = byName.get(name);
    else {
      // Shorthand: the first letter names the flag; the rest (if any) is its value.
      spec = byShort.get(name.slice(0, 1));
      if (spec && name.length > 1 && inline === undefined) {
        inline = name.slice(1);
        if (spec.kind === 'bool') {
          issues.push({ flag: spec.name, message: `unknown shorthand flag in ${JSON.stringify(arg)}` });
          continue;
        }
      }
      name = name.slice(0, 1);
    }
    const shown = long ? `--${name}` : `-${name}`;
    if (!spec) {
      issues.push({ message: `unknown flag: ${long ? '--' + name : arg}` });
      continue;
    }
    if (spec.kind === 'bool') {
      assign(spec, inline ?? 'true', shown);
      continue;
    }
    if (inline === undefined) {
      const next = argv[i + 1];
      if (next === undefined) {
        issues.push({ flag: spec.name, message: `flag needs an argument: ${shown} (expected ${expectedForm(spec)})` });
        continue;
      }
      inline = next;
      i++;
    }
    assign(spec, inline, shown);
  }
  return { values, given, positional, issues };
}
