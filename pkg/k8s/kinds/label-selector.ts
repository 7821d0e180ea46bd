import { asArray, asRecord, asString } from '../../util/json.js';
import type { NamespaceScope, PodSelection } from './network-policy.js';

export interface SelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  /** Sorted and unique; empty for Exists / DoesNotExist. */
  readonly values: readonly string[];
}

/** A label selector in canonical form (sorted), so equal selectors have equal keys. */
export interface LabelSelector {
  readonly matchLabels: readonly (readonly [string, string])[];
  readonly matchExpressions: readonly SelectorRequirement[];
}


export const EVERYTHING: LabelSelector = { matchLabels: [], matchExpressions: [] };

const OPERATORS: ReadonlySet<string> = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/**
 * Parses a metav1.LabelSelector into canonical form. An absent selector selects everything, as an
 * empty one does (NetworkPolicy's podSelector and peers treat both alike). A malformed selector is an
 * error: the caller rejects the policy rather than guess (a guess could open or close traffic).
 */
export function parseSelector(v: unknown, where: string): { selector: LabelSelector } | { error: string } {
  if (v === undefined || v === null) return { selector: EVERYTHING };
  const r = asRecord(v);
  if (!r) return { error: `${where}: not an object` };
  const labels: [string, string][] = [];
  const ml = r['matchLabels'];
  if (ml !== undefined && ml !== null) {
    const m = asRecord(ml);
    if (!m) return { error: `${where}.matchLabels: not an object` };
    for (const [k, x] of Object.entries(m)) {
      if (typeof x !== 'string') return { error: `${where}.matchLabels.${k}: not a string` };
      labels.push([k, x]);
    }
  }
  const exprs: SelectorRequirement[] = [];
  for (const [i, e] of asArray(r['matchExpressions']).entries()) {
    const er = asRecord(e);
    const key = asString(er?.['key']);
    const op = asString(er?.['operator']);
    if (!er || key === undefined || key === '') return { error: `${where}.matchExpressions[${i}]: no key` };
    if (op === undefined || !OPERATORS.has(op)) return { error: `${where}.matchExpressions[${i}]: unknown operator ${JSON.stringify(er['operator'])}` };
    const values = asArray(er['values']);
    if (values.some((x) => typeof x !== 'string')) return { error: `${where}.matchExpressions[${i}].values: not all strings` };
    const vs = [...new Set(values as string[])].sort();
    if ((op === 'In' || op === 'NotIn') && vs.length === 0) return { error: `${where}.matchExpressions[${i}]: ${op} needs values` };
    if ((op === 'Exists' || op === 'DoesNotExist') && vs.length > 0) return { error: `${where}.matchExpressions[${i}]: ${op} takes no values` };
    exprs.push({ key, operator: op as SelectorRequirement['operator'], values: vs });
  }
  labels.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const exprKey = (x: SelectorRequirement): string => `${x.key}\u0000${x.operator}\u0000${x.values.join('\u0000')}`;
  exprs.sort((a, b) => (exprKey(a) < exprKey(b) ? -1 : 1));
  const uniq = exprs.filter((x, i) => i === 0 || exprKey(x) !== exprKey(exprs[i - 1] as SelectorRequirement));
  return { selector: { matchLabels: labels, matchExpressions: uniq } };
}

export function matches(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of sel.matchLabels) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const v = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !e.values.includes(v as string)) return false;
        break;
      case 'NotIn':
        if (has && e.values.includes(v as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export function selectorKey(sel: LabelSelector): string {
  return JSON.stringify([sel.matchLabels, sel.matchExpressions.map((e) => [e.key, e.operator, e.values])]);
}

export function scopeKey(s: NamespaceScope): string {
  return s.kind === 'name' ? `ns=${s.name}` : `nssel=${selectorKey(s.selector)}`;
}

/** Canonical identity of a pod selection: equal selections share one ipset. */
export function selectionKey(s: PodSelection): string {
  return `${scopeKey(s.namespaces)}|pods=${selectorKey(s.pods)}`;
}

export function isEverything(sel: LabelSelector): boolean {
  return sel.matchLabels.length === 0 && sel.matchExpressions.length === 0;
}
