/** Narrowing helpers for `unknown` JSON at boundaries (API objects, tool output). */
export type JsonRecord = Readonly<Record<string, unknown>>;

export function asRecord(v: unknown): JsonRecord | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonRecord) : undefined;
}
export function asArray(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}
/** Strings as they are; numbers and booleans as text; anything else undefined. */
export function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}
export function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return undefined;
}

/**
 * A record's own value for a key from outside (an API field, an annotation, tool output), never one
 * inherited from Object.prototype (`constructor` is not a protocol).
 */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
