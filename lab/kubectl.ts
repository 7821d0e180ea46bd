import { adminKubeconfig } from './control-plane/kubernetes.js';
import { builtControlPlane } from './control-plane/binaries.js';
import { netns } from './plan.js';
import type { LabState } from './state.js';

/**
 * The argv that runs the built kubectl against a lab's API server as cluster-admin: inside the
 * lab's API namespace (the API server's address is only reachable there).
 */
export function kubectlArgv(st: LabState, args: readonly string[]): string[] {
  if (st.controlPlane?.kind !== 'kubernetes') throw new Error(`lab ${st.plan.name} runs the API server fixture; kubectl needs the real control plane (lab up --control-plane kubernetes)`);
  const cp = builtControlPlane();
  if (!cp) throw new Error('kubectl is not built: run scripts/setup.sh');
  return ['ip', 'netns', 'exec', netns.api(st.plan.name), cp.bin('kubectl'), `--kubeconfig=${adminKubeconfig(st.dir)}`, ...args];
}
