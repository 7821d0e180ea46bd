import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../dist.js';

/** The pinned control-plane release (scripts/control-plane/versions.json, the one place it is set). */
export interface ControlPlaneVersions {
  readonly kubernetes: string;
  readonly etcd: string;
}

export const CONTROL_PLANE_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kubectl', 'kube-proxy', 'etcd'] as const;
export type ControlPlaneBinary = (typeof CONTROL_PLANE_BINARIES)[number];

export function controlPlaneVersions(): ControlPlaneVersions {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'scripts/control-plane/versions.json'), 'utf8')) as ControlPlaneVersions;
}

/** The cache folder scripts/control-plane/build.sh fills (KR_CONTROL_PLANE_CACHE overrides its root, as there). */
export function controlPlaneBinDir(v: ControlPlaneVersions = controlPlaneVersions()): string {
  const root = process.env['KR_CONTROL_PLANE_CACHE'] ?? join(REPO_ROOT, '.cache/control-plane');
  return join(root, `kubernetes-${v.kubernetes}-etcd-${v.etcd}`, 'bin');
}

/** Every binary's path when all of them are built, else undefined. */
export function builtControlPlane(): { readonly versions: ControlPlaneVersions; readonly bin: (b: ControlPlaneBinary) => string } | undefined {
  const versions = controlPlaneVersions();
  const dir = controlPlaneBinDir(versions);
  if (!CONTROL_PLANE_BINARIES.every((b) => existsSync(join(dir, b)))) return undefined;
  return { versions, bin: (b) => join(dir, b) };
}
