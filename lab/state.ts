import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_STATE_ROOT, type LabPlan } from './plan.js';

/** The real control plane's processes in the lab's API namespace. */
export interface KubernetesPids {
  etcd?: number;
  apiserver?: number;
  controllerManager?: number;
  forward?: number;
  kubelet?: number;
}

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
  /** The lab's container runtime (CRI over gRPC on `<dir>/cri.sock`), which the daemons' DSR asks. */
  criPid?: number;
  /** `up --prometheus`: Prometheus in the API namespace scraping every node. */
  prometheusPid?: number;
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

/** Every process the lab started (control plane, top-of-rack router, daemons, pod workloads). */
export function labPids(st: LabState): number[] {
  const p = st.controlPlane?.kind === 'kubernetes' ? st.controlPlane.pids : {};
  const cp = [p.etcd, p.apiserver, p.controllerManager, p.forward, p.kubelet];
  return [st.apiPid, st.torPid, st.criPid, st.prometheusPid, ...cp, ...Object.values(st.daemons), ...st.pods.map((p) => p.pid)].filter((p): p is number => p !== undefined && p > 0);
}
