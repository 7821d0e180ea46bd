import type { KubeObject } from '../object.js';

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export function parseNamespace(o: KubeObject): NamespaceInfo {
  return { name: o.metadata.name, labels: o.metadata.labels };
}
