import { microTime } from '../../pkg/k8s/micro-time.js';
import type { KubeClient, JsonObject } from '../kube-client.js';
import { KubeApiError } from '../kube-client.js';

/** What the lab, playing each node's kubelet, registers: the Node with its addresses, Ready. */
export interface NodeRegistration {
  readonly name: string;
  readonly addresses: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

function readyCondition(now: Date): JsonObject {
  const t = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'the lab plays this kubelet', lastHeartbeatTime: t, lastTransitionTime: t };
}

/**
 * Registers the Node with the node's own credentials (system:node:NAME; NodeRestriction lets a node
 * create only itself and only the labels a kubelet may set), then waits for node IPAM's podCIDRs.
 */
export async function registerNode(asNode: KubeClient, n: NodeRegistration, timeoutMs: number): Promise<string[]> {
  const now = new Date();
  const existing = await asNode.get('Node', undefined, n.name);
  if (!existing) {
    await asNode.create({
      kind: 'Node',
      metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', ...n.labels } },
      spec: {},
      status: {
        addresses: [...n.addresses.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: n.name }],
        conditions: [readyCondition(now)],
        nodeInfo: { kubeletVersion: 'lab', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'lab://cni', kernelVersion: '', osImage: 'kube-router lab', machineID: '', systemUUID: '', bootID: '' },
      },
    });
  }
  await renewLease(asNode, n.name, now);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const node = await asNode.get('Node', undefined, n.name);
    const cidrs = ((node?.['spec'] as JsonObject | undefined)?.['podCIDRs'] as string[] | undefined) ?? [];
    if (cidrs.length > 0) return cidrs;
    if (Date.now() > end) throw new Error(`node ${n.name}: node IPAM gave it no podCIDRs within ${timeoutMs} ms (is kube-controller-manager running? see controller-manager.log)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Renews (or creates) the node's Lease in kube-node-lease, as a kubelet does every 10 s. */
export async function renewLease(asNode: KubeClient, node: string, now: Date): Promise<void> {
  const spec = { holderIdentity: node, leaseDurationSeconds: 40, renewTime: microTime(now.getTime()) };
  try {
    await asNode.patch('Lease', 'kube-node-lease', node, { spec });
  } catch (e) {
    if (!(e instanceof KubeApiError) || e.status !== 404) throw e;
    await asNode.create({ kind: 'Lease', metadata: { name: node, namespace: 'kube-node-lease' }, spec });
  }
}

/** The node's Ready heartbeat in its status (the node lifecycle controller would read it). */
export async function heartbeat(asNode: KubeClient, node: string, now: Date): Promise<void> {
  await asNode.patch('Node', undefined, node, { status: { conditions: [readyCondition(now)] } }, 'status');
}

/**
 * The pod's status as its kubelet writes it once the sandbox is up: Running, Ready, its IPs. Written
 * with the node's own credentials (the Node authorizer lets a node write only its pods' status).
 */
export async function writePodRunning(asNode: KubeClient, namespace: string, name: string, hostIP: string, ips: readonly string[], now: Date, containerId: string): Promise<void> {
  const t = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond = (type: string): JsonObject => ({ type, status: 'True', lastTransitionTime: t });
  await asNode.patch(
    'Pod',
    namespace,
    name,
    {
      status: {
        phase: 'Running',
        hostIP,
        hostIPs: [{ ip: hostIP }],
        podIP: ips[0],
        podIPs: ips.map((ip) => ({ ip })),
        startTime: t,
        conditions: [cond('PodScheduled'), cond('Initialized'), cond('ContainersReady'), cond('Ready')],
        // The container id the lab's runtime (lab/cri-runtime.ts) answers for.
        containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'lab/workload', imageID: '', containerID: `lab://${containerId}`, started: true, state: { running: { startedAt: t } } }],
      },
    },
    'status',
  );
}
