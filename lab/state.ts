import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_STATE_ROOT, type LabPlan } from './plan.js';
import type { KubernetesPids } from './control-plane/kubernetes.js';

/** Which API server the lab runs: the real Kubernetes control plane, or our fixture with its stand-ins. */
export type LabControlPlane = { readonly kind: 'kubernetes'; readonly version: string; pids: KubernetesPids } | { readonly kind: 'fixture'; readonly version: string };

export interface PodState {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly netns: string;
  readonly ips: readonly string[];
  readonly pid: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly { readonly name?: string; readonly port: number; readonly protocol: string }[];
  readonly containerId: string;
}

export interface LabState {
  readonly plan: LabPlan;
  readonly dir: string;
  /** Absent in state written before the real control plane existed: the fixture. */
  controlPlane?: LabControlPlane;
  /** The fixture's API process (fixture control plane only). */
  apiPid?: number;
  torPid?: number;
  peer: 'bird' | 'gobgp' | 'none';
  daemonArgs: string[];
  daemons: Record<string, number>; // node name → pid
  pods: PodState[];
  podSeq: number;
}

export function labDir(name: string): string {
  return join(LAB_STATE_ROOT, name);
}

export function loadState(name: string): LabState | undefined {
  const f = join(labDir(name), 'state.json');
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, 'utf8')) as LabState;
}

export function saveState(s: LabState): void {
  mkdirSync(s.dir, { recursive: true });
  const f = join(s.dir, 'state.json');
  writeFileSync(f + '.tmp', JSON.stringify(s, null, 2));
  renameSync(f + '.tmp', f);
}
