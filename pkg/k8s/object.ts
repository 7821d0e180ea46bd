/** The part of every API object the watch layer needs; the rest is parsed by each controller. */
export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly deletionTimestamp?: string;
}

export interface KubeObject {
  readonly metadata: ObjectMeta;
  /** The object as the API sent it, for the controller's own parser. */
  readonly raw: Readonly<Record<string, unknown>>;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === null || typeof v !== 'object') return out;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** Parses an API object's metadata; undefined when it has no name (such an object is skipped). */
export function toKubeObject(v: unknown): KubeObject | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const raw = v as Record<string, unknown>;
  const m = raw['metadata'];
  if (m === null || typeof m !== 'object') return undefined;
  const meta = m as Record<string, unknown>;
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') return undefined;
  const str = (k: string): string | undefined => (typeof meta[k] === 'string' ? meta[k] : undefined);
  const ns = str('namespace');
  const uid = str('uid');
  const rv = str('resourceVersion');
  const del = str('deletionTimestamp');
  return {
    metadata: {
      name,
      ...(ns !== undefined ? { namespace: ns } : {}),
      ...(uid !== undefined ? { uid } : {}),
      ...(rv !== undefined ? { resourceVersion: rv } : {}),
      ...(del !== undefined ? { deletionTimestamp: del } : {}),
      labels: stringMap(meta['labels']),
      annotations: stringMap(meta['annotations']),
    },
    raw,
  };
}

export function objectKey(o: KubeObject): string {
  return o.metadata.namespace !== undefined ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export type StoreEvent =
  | { readonly type: 'add'; readonly obj: KubeObject }
  | { readonly type: 'update'; readonly old: KubeObject; readonly obj: KubeObject }
  | { readonly type: 'delete'; readonly obj: KubeObject };
