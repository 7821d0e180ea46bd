import { ownValue } from '../util/json.js';
/**
 * Go `time.ParseDuration` syntax: an optional sign, then one or more decimal numbers each with a unit
 * (ns, us, µs, ms, s, m, h), e.g. `300ms`, `1m30s`, `2h22m`, `1.5h`. A bare `0` is allowed.
 * Returns milliseconds (fractions kept), or undefined when the text is not a duration.
 */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  const re = /(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m?.[1] || m[1] === '.' || !m[2]) return undefined;
    total += Number(m[1]) * (ownValue(UNIT_MS, m[2] ?? '') ?? NaN);
    pos = re.lastIndex;
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

/** Formats milliseconds the way Go prints a time.Duration (`1m30s`, `500ms`, `0s`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = Math.round(ms);
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  let out = '';
  if (h) out += `${h}h`;
  if (h || m) out += `${m}m`;
  out += `${s}s`;
  return out;
}
