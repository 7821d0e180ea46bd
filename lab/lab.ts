import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KubeClient, KubeApiError, type JsonObject } from './kube-client.js';
import { addNetns, deleteNetns } from '../pkg/linux/netns.js';
import { realExec } from '../pkg/linux/exec.js';
import { asArray, asRecord, asString, asNumber } from '../pkg/util/json.js';
import { DIST } from './dist.js';
import { DAEMON_NODE_FLAGS } from '../pkg/daemon/node-flags.js';
import { cniRun, loopbackUp } from './cni.js';
import { makePlan, netns, nodeIP, nodeIP6, nodeName, podCidr, podCidr6, spareFabricIPs, type LabPlan } from './plan.js';
import { isAlive, spawnDetached, waitForFile } from './processes.js';
import { criSocket } from './cri-runtime.js';
import { nsRun, run } from './sh.js';
import { REPO_ROOT } from './dist.js';
import { kubectlArgv } from './kubectl.js';
import { startTor, torDaemonArgs, type TorOptions } from './tor.js';
import { labDir, loadState, saveState, type LabState, type PodState } from './state.js';
import { builtControlPlane } from './control-plane/binaries.js';
import { apiSocket, inPodMounts, nodeCredentials, restartApiserver, SERVICE_CIDR6, startKubernetes, writeServiceAccountFiles } from './control-plane/kubernetes.js';
import { registerNode, writePodRunning } from './control-plane/kubelet.js';
import { pkiPaths } from './control-plane/pki.js';
import { startPrometheus } from './prometheus.js';
import { buildTopology, destroyLab } from './topology.js';

const exec = realExec();
export type Progress = (msg: string) => void;

export interface UpOptions {
  readonly name: string;
  readonly nodes: number;
  readonly subnets: 1 | 2;
  readonly peer: 'bird' | 'gobgp' | 'none';
  readonly ipv6: boolean;
  readonly daemonArgs: readonly string[];
  /** The first segment's /24 (default 198.18.0.0/24). */
  readonly fabricCidr?: string;
  /** Every node also on a second network (eth1), for --iface. */
  readonly dataNetwork?: boolean;
  /** The real Kubernetes control plane (default where it is built) or the API server fixture. */
  readonly controlPlane?: 'kubernetes' | 'fixture';
  /** Debian's Prometheus in the API namespace, scraping every node's metrics port. */
  readonly prometheus?: boolean;
  /** --loadbalancer-ip-range of the lab (default 198.19.1.0/24). */
  readonly lbRange?: string;
  /** With a BIRD peer: prefixes it announces to the nodes, and BFD on its sessions (the daemons get --enable-bfd with these timers). */
  readonly tor?: TorOptions;
}

/** `kubernetes` where scripts/setup.sh built the binaries, else `fixture`. */
export function defaultControlPlane(): 'kubernetes' | 'fixture' {
  return builtControlPlane() ? 'kubernetes' : 'fixture';
}

export function isKubernetes(st: LabState): boolean {
  return st.controlPlane?.kind === 'kubernetes';
}

/** The CNI config the DaemonSet's init container would install (upstream's cni-conf.json): no ranges yet. */
export const CNI_TEMPLATE = { cniVersion: '0.3.0', name: 'mynet', type: 'bridge', bridge: 'kube-bridge', isDefaultGateway: true, hairpinMode: true, ipam: { type: 'host-local' } };

/** The lab's admin client: cluster-admin on the real control plane (client certificate), or the fixture. */
/** The ClusterNetworkPolicy CRD that scripts/network-policy-api/fetch.sh (run by setup) puts in the cache. */
export const CNP_CRD_FILE = join(REPO_ROOT, '.cache/network-policy-api/v0.2.0/experimental-policy.networking.k8s.io_clusternetworkpolicies.yaml');

export function client(st: LabState): KubeClient {
  if (!isKubernetes(st)) return new KubeClient({ kind: 'socket', socketPath: join(st.dir, 'api.sock') });
  const pki = pkiPaths(join(st.dir, 'pki'));
  return new KubeClient({ kind: 'tls', socketPath: apiSocket(st.dir), servername: 'kubernetes', ca: readFileSync(pki.caCert, 'utf8'), cert: readFileSync(join(pki.dir, 'admin.crt'), 'utf8'), key: readFileSync(join(pki.dir, 'admin.key'), 'utf8') });
}

/** A node's kubelet identity (system:node:NAME) on the real control plane; the admin client on the fixture. */
async function kubeletClient(st: LabState, node: string): Promise<KubeClient> {
  const c = client(st);
  if (!isKubernetes(st)) return c;
  const cred = await nodeCredentials(st.dir, node);
  return c.as(cred.cert, cred.key);
}

/** Where a node's daemon serves `kube-router proxy|routes|bgp` (KUBE_ROUTER_SOCKET). */
export function inspectSocket(st: LabState, node: string): string {
  return join(st.dir, `${node}-kube-router.sock`);
}

function cniConfFile(st: LabState, node: string): string {
  return join(st.dir, 'cni', node, '10-kuberouter.conf');
}

export function daemonArgv(st: LabState, i: number): string[] {
  const p = st.plan;
  return [
    'node',
    ...DAEMON_NODE_FLAGS,
    join(DIST, 'cmd/kube-router.js'),
    // On the real control plane the daemon runs as in its DaemonSet: in-cluster configuration (the
    // ServiceAccount token and CA where a pod sees them), no kubeconfig.
    // kube-router's LoadBalancer allocator gives the addresses (the fixture allocates them itself).
    ...(isKubernetes(st) ? ['--run-loadbalancer=true'] : [`--kubeconfig=${join(st.dir, 'kubeconfig')}`]),
    `--hostname-override=${nodeName(i)}`,
    `--service-cluster-ip-range=${p.serviceCidr}`,
    `--service-external-ip-range=${p.externalIPRange}`,
    `--loadbalancer-ip-range=${p.lbIPRange}`,
    '--health-port=20244',
    '--metrics-port=20245',
    '--cache-sync-timeout=30s',
    `--runtime-endpoint=unix://${criSocket(st.dir)}`,
    '-v=1',
    ...(p.ipv6 ? ['--enable-ipv6=true', `--service-cluster-ip-range=${SERVICE_CIDR6}`] : []),
    ...st.daemonArgs,
  ];
}

export function startDaemon(st: LabState, i: number): number {
  const node = nodeName(i);
  const env = { NODE_NAME: node, KUBE_ROUTER_CNI_CONF_FILE: cniConfFile(st, node), KUBE_ROUTER_SOCKET: inspectSocket(st, node) };
  if (!isKubernetes(st)) return spawnDetached(netns.node(st.plan.name, i), daemonArgv(st, i), join(st.dir, `${node}.log`), env);
  // What the kubelet gives a DaemonSet pod: the API server's address in the environment (the DaemonSet
  // points it at the API server itself, as the Service VIP is what kube-router serves) and the
  // ServiceAccount folder mounted at its well-known path.
  const inCluster = { KUBERNETES_SERVICE_HOST: st.plan.apiIP, KUBERNETES_SERVICE_PORT: '6443', POD_NAME: `kube-router-${node}`, POD_NAMESPACE: 'kube-system' };
  return spawnDetached(netns.node(st.plan.name, i), [...inPodMounts(join(st.dir, 'serviceaccount', node)), ...daemonArgv(st, i)], join(st.dir, `${node}.log`), { ...env, ...inCluster });
}

export async function nodeHealth(st: LabState, i: number): Promise<number> {
  const r = await nsRun(netns.node(st.plan.name, i), 'curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:20244/healthz').catch(() => ({ stdout: '000' }));
  return Number(r.stdout.trim());
}

export async function waitHealthy(st: LabState, i: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while ((await nodeHealth(st, i)) !== 200) {
    if (Date.now() > end) {
      const log = existsSync(join(st.dir, `${nodeName(i)}.log`)) ? readFileSync(join(st.dir, `${nodeName(i)}.log`), 'utf8').slice(-2000) : '';
      throw new Error(`${nodeName(i)}: kube-router not healthy after ${timeoutMs} ms\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function startApi(st: LabState): number {
  const plan = st.plan;
  return spawnDetached(netns.api(plan.name), ['node', join(DIST, 'lab/api-process.js'), '--listen', `${plan.apiIP}:6443`, '--socket', join(st.dir, 'api.sock'), '--service-cidr', plan.serviceCidr, '--lb-range', plan.lbIPRange, '--state', join(st.dir, 'api-state.json'), ...(plan.ipv6 ? ['--service-cidr6', '2001:db8:128::/112'] : [])], join(st.dir, 'api.log'));
}

/**
 * Waits until every daemon has all its watches open again (its /healthz says `KubernetesAPI:
 * watching`): after an API server restart they reconnect with backoff, and changes made before that
 * would reach them only then.
 */
export async function waitWatching(st: LabState, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; i < st.plan.nodes; i++) {
    for (;;) {
      const r = await nsRun(netns.node(st.plan.name, i), 'curl', '-s', '-m', '2', 'http://127.0.0.1:20244/healthz').catch(() => ({ stdout: '' }));
      if (/KubernetesAPI: watching/.test(r.stdout)) break;
      if (Date.now() > end) throw new Error(`${nodeName(i)}: watches not open again after ${timeoutMs} ms: ${r.stdout}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
}

/**
 * Restarts the API server, as an API server restart in a cluster would (the real one: etcd keeps the
 * objects; the fixture: its objects are saved and loaded again, versions continue, so watchers get 410
 * Gone and list again). Returns once every daemon watches again.
 */
export async function restartApi(st: LabState): Promise<void> {
  if (st.controlPlane?.kind === 'kubernetes') {
    await restartApiserver(st.plan, st.dir, st.controlPlane.pids);
    saveState(st);
    await waitWatching(st, 60_000);
    return;
  }
  if (st.apiPid !== undefined) {
    const pid = st.apiPid;
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + 15_000;
    while (isAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(pid)) throw new Error('the API server did not stop');
  }
  writeFileSync(join(st.dir, 'api.log'), '');
  st.apiPid = startApi(st);
  saveState(st);
  await waitForFile(join(st.dir, 'api.log'), /ready/, 15_000, 'the API server');
  await waitWatching(st, 60_000);
}

export async function up(o: UpOptions, progress: Progress): Promise<LabState> {
  await destroyLab(o.name);
  const plan: LabPlan = { ...makePlan(o.name, o.nodes, o.subnets, o.ipv6, o.fabricCidr, o.dataNetwork ?? false), ...(o.lbRange ? { lbIPRange: o.lbRange } : {}) };
  const dir = labDir(o.name);
  mkdirSync(dir, { recursive: true });
  const kind = o.controlPlane ?? defaultControlPlane();
  const cp = builtControlPlane();
  if (kind === 'kubernetes' && !cp) throw new Error('--control-plane kubernetes: the binaries are not built; run scripts/setup.sh (or use --control-plane fixture)');
  const st: LabState = {
    plan,
    dir,
    peer: o.peer,
    daemonArgs: [...o.daemonArgs],
    daemons: {},
    pods: [],
    podSeq: 0,
    controlPlane: kind === 'kubernetes' && cp ? { kind, version: cp.versions.kubernetes, pids: {} } : { kind: 'fixture', version: 'fixture' },
  };
  saveState(st);
  progress(`topology: ${o.nodes} nodes on ${o.subnets} segment(s)`);
  await buildTopology(plan);
  // The container runtime the lab plays for every node (DSR finds a pod's process through it); its
  // unix socket is reached from any namespace.
  st.criPid = spawnDetached(netns.api(plan.name), ['node', join(DIST, 'lab/cri-runtime.js'), '--dir', dir], join(dir, 'cri-runtime.log'));
  saveState(st);
  await waitForFile(join(dir, 'cri-runtime.log'), /ready/, 15_000, 'the lab container runtime');
  if (st.controlPlane?.kind === 'kubernetes') await upKubernetes(st, o, progress);
  else await upFixture(st, o, progress);
  if (o.peer !== 'none') {
    progress(`top-of-rack router: ${o.peer} in the external namespace, eBGP with every node`);
    st.torPid = startTor(plan, dir, o.peer, o.tor).pid;
    st.daemonArgs = [...torDaemonArgs(plan, o.tor), ...st.daemonArgs];
    saveState(st);
  }
  progress('kube-router on every node');
  for (let i = 0; i < o.nodes; i++) st.daemons[nodeName(i)] = startDaemon(st, i);
  saveState(st);
  for (let i = 0; i < o.nodes; i++) await waitHealthy(st, i, 60_000);
  if (o.prometheus) {
    progress('prometheus (scraping every node)');
    st.prometheusPid = await startPrometheus(plan, dir);
    saveState(st);
  }
  return st;
}

function nodeLabels(i: number): Record<string, string> {
  return { 'topology.kubernetes.io/zone': `zone-${(i % 2) + 1}` };
}

function writeCniTemplate(st: LabState, name: string): void {
  mkdirSync(join(st.dir, 'cni', name), { recursive: true });
  writeFileSync(cniConfFile(st, name), JSON.stringify(CNI_TEMPLATE, null, 2) + '\n');
}

/**
 * etcd, kube-apiserver and kube-controller-manager in the API namespace; each node registered by its
 * kubelet (the lab) in order, so node IPAM hands out the plan's pod CIDRs; the kubelets' heartbeats
 * and the load-balancer stand-in; a ServiceAccount token per node for the daemon.
 */
async function upKubernetes(st: LabState, o: UpOptions, progress: Progress): Promise<void> {
  const plan = st.plan;
  const cp = st.controlPlane;
  if (cp?.kind !== 'kubernetes') return;
  const t0 = Date.now();
  const c = await startKubernetes(plan, st.dir, cp.pids, progress);
  saveState(st);
  progress(`nodes register (node IPAM assigns their pod CIDRs)`);
  for (let i = 0; i < o.nodes; i++) {
    const name = nodeName(i);
    const cidrs = await registerNode(await kubeletClient(st, name), { name, addresses: [nodeIP(plan, i), ...(o.ipv6 ? [nodeIP6(i)] : [])], labels: nodeLabels(i) }, 30_000);
    const want = [podCidr(i), ...(o.ipv6 ? [podCidr6(i)] : [])];
    if (cidrs.join(',') !== want.join(',')) throw new Error(`node ${name}: node IPAM gave ${cidrs.join(',')}, the lab's plan expects ${want.join(',')}`);
    writeCniTemplate(st, name);
  }
  cp.pids.kubelet = spawnDetached(netns.api(plan.name), ['node', join(DIST, 'lab/control-plane/lab-controllers.js'), '--dir', st.dir, '--nodes', Array.from({ length: o.nodes }, (_, i) => nodeName(i)).join(',')], join(st.dir, 'lab-controllers.log'));
  saveState(st);
  await waitForFile(join(st.dir, 'lab-controllers.log'), /ready/, 15_000, 'the lab controllers');
  for (let i = 0; i < o.nodes; i++) await writeServiceAccountFiles(c, st.dir, nodeName(i));
  if (existsSync(CNP_CRD_FILE)) {
    progress('ClusterNetworkPolicy CRD (policy.networking.k8s.io/v1alpha2)');
    await run(...kubectlArgv(st, ['apply', '-f', CNP_CRD_FILE]));
    await run(...kubectlArgv(st, ['wait', '--for', 'condition=established', '--timeout=30s', 'crd/clusternetworkpolicies.policy.networking.k8s.io']));
  }
  progress(`control plane ${cp.version} up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function upFixture(st: LabState, o: UpOptions, progress: Progress): Promise<void> {
  const plan = st.plan;
  const dir = st.dir;
  progress('API server (fixture)');
  st.apiPid = startApi(st);
  saveState(st);
  await waitForFile(join(dir, 'api.log'), /ready/, 15_000, 'the API server');
  writeFileSync(join(dir, 'kubeconfig'), ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: lab', '  cluster:', `    server: http://${plan.apiIP}:6443`, '    insecure-skip-tls-verify: true', 'users:', '- name: lab', '  user: {}', 'contexts:', '- name: lab', '  context: {cluster: lab, user: lab}', 'current-context: lab', ''].join('\n'));
  const c = client(st);
  for (let i = 0; i < o.nodes; i++) {
    const name = nodeName(i);
    await c.create({
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, ...nodeLabels(i) } },
      spec: { podCIDR: podCidr(i), podCIDRs: [podCidr(i), ...(o.ipv6 ? [podCidr6(i)] : [])] },
      status: { addresses: [{ type: 'InternalIP', address: nodeIP(plan, i) }, ...(o.ipv6 ? [{ type: 'InternalIP', address: nodeIP6(i) }] : []), { type: 'Hostname', address: name }] },
    });
    writeCniTemplate(st, name);
  }
}

interface PodSpecIn {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly nodeName?: string;
  readonly ports: { name?: string; port: number; protocol: string }[];
}

function parsePod(o: JsonObject): PodSpecIn {
  const meta = asRecord(o['metadata']) ?? {};
  const spec = asRecord(o['spec']) ?? {};
  const ports = asArray(spec['containers']).flatMap((c) => asArray(asRecord(c)?.['ports']).map((p) => {
    const r = asRecord(p);
    const name = asString(r?.['name']);
    return { ...(name ? { name } : {}), port: asNumber(r?.['containerPort']) ?? 0, protocol: asString(r?.['protocol']) ?? 'TCP' };
  }));
  const nn = asString(spec['nodeName']);
  return { namespace: asString(meta['namespace']) ?? 'default', name: asString(meta['name']) ?? '', labels: (asRecord(meta['labels']) ?? {}) as Record<string, string>, ...(nn ? { nodeName: nn } : {}), ports };
}

/** Waits until the node's CNI config has the pod ranges our daemon inserts. */
async function nodeCniConf(st: LabState, node: string): Promise<string> {
  const f = cniConfFile(st, node);
  await waitForFile(f, /"ranges"|"subnet"/, 30_000, `the CNI config kube-router writes on ${node}`);
  return readFileSync(f, 'utf8');
}

function podObject(p: PodSpecIn, node: string): JsonObject {
  return {
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
    spec: { nodeName: node, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'lab/workload', ports: p.ports.map((x) => ({ ...(x.name ? { name: x.name } : {}), containerPort: x.port, protocol: x.protocol })) }] },
  };
}

/** The namespace must exist on the real API server; the lab makes it when a document did not. */
async function ensureNamespace(c: KubeClient, ns: string): Promise<void> {
  if (await c.get('Namespace', undefined, ns)) return;
  await c.create({ kind: 'Namespace', metadata: { name: ns } }).catch((e: unknown) => {
    if (!(e instanceof KubeApiError) || e.status !== 409) throw e;
  });
}

/**
 * Creates the bound Pod (the lab is the scheduler), retrying while the namespace's default
 * ServiceAccount does not exist yet (the ServiceAccount admission plugin refuses the pod until the
 * ServiceAccount controller has made it).
 */
async function createBoundPod(c: KubeClient, p: PodSpecIn, node: string): Promise<void> {
  await ensureNamespace(c, p.namespace);
  const end = Date.now() + 20_000;
  for (;;) {
    try {
      await c.create(podObject(p, node));
      return;
    } catch (e) {
      const retry = e instanceof KubeApiError && /serviceaccount|service account|being terminated/i.test(e.message) && Date.now() < end;
      if (!retry) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function addPod(st: LabState, p: PodSpecIn): Promise<PodState> {
  const nodeIndex = p.nodeName ? Number(p.nodeName.replace('node-', '')) - 1 : st.podSeq % st.plan.nodes;
  const node = nodeName(nodeIndex);
  if (nodeIndex < 0 || nodeIndex >= st.plan.nodes) throw new Error(`pod ${p.namespace}/${p.name}: no node ${p.nodeName ?? ''}`);
  const kube = isKubernetes(st);
  // A real kubelet sees the Pod bound to its node first, then makes the sandbox and reports status.
  if (kube) await createBoundPod(client(st), p, node);
  const n = ++st.podSeq;
  const ns = netns.pod(st.plan.name, n);
  const containerId = `lab-${st.plan.name}-${n}`;
  await addNetns(exec, ns);
  const nodeNs = netns.node(st.plan.name, nodeIndex);
  const conf = await nodeCniConf(st, node);
  const ips = await cniRun('ADD', nodeNs, conf, `/var/run/netns/${ns}`, containerId, 'eth0', join(st.dir, 'ipam', node));
  await loopbackUp(nodeNs, `/var/run/netns/${ns}`, containerId);
  const tcp = p.ports.filter((x) => x.protocol === 'TCP').map((x) => x.port);
  const udp = p.ports.filter((x) => x.protocol === 'UDP').map((x) => x.port);
  const log = join(st.dir, `pod-${p.namespace}-${p.name}.log`);
  const pid = spawnDetached(ns, ['node', join(DIST, 'lab/workload.js'), '--name', `${p.namespace}/${p.name}`, '--tcp', tcp.join(','), '--udp', udp.join(',')], log);
  await waitForFile(log, /ready/, 60_000, `pod ${p.namespace}/${p.name}`);
  const pod: PodState = { namespace: p.namespace, name: p.name, node, netns: ns, ips, pid, labels: p.labels, ports: p.ports, containerId };
  if (kube) await writePodRunning(await kubeletClient(st, node), p.namespace, p.name, nodeIP(st.plan, nodeIndex), ips, new Date(), containerId);
  else {
    const o = podObject(p, node);
    await client(st).create({ ...o, status: { phase: 'Running', hostIP: nodeIP(st.plan, nodeIndex), podIP: ips[0], podIPs: ips.map((ip) => ({ ip })), conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'app', ready: true, containerID: `lab://${containerId}` }] } });
  }
  return pod;
}

/** Writes a lab pod's status again as its kubelet would (after a test re-creates its Pod object). */
export async function reportPodRunning(st: LabState, pod: PodState): Promise<void> {
  const i = Number(pod.node.replace('node-', '')) - 1;
  await writePodRunning(await kubeletClient(st, pod.node), pod.namespace, pod.name, nodeIP(st.plan, i), pod.ips, new Date(), pod.containerId);
}

async function removePod(st: LabState, pod: PodState): Promise<void> {
  try {
    process.kill(pod.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  await client(st).delete('Pod', pod.namespace, pod.name);
  const i = Number(pod.node.replace('node-', '')) - 1;
  const conf = readFileSync(cniConfFile(st, pod.node), 'utf8');
  await cniRun('DEL', netns.node(st.plan.name, i), conf, `/var/run/netns/${pod.netns}`, pod.containerId, 'eth0', join(st.dir, 'ipam', pod.node)).catch(() => undefined);
  await deleteNetns(exec, pod.netns);
}

export function readDocs(file: string): JsonObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as JsonObject).filter((d) => d !== null && typeof d === 'object');
}

/** Creates (or replaces) every object in the documents; pods get a namespace, CNI, a workload. */
export async function apply(st: LabState, docs: readonly JsonObject[], progress: Progress): Promise<void> {
  const c = client(st);
  const order = ['Namespace', 'Node', 'Service', 'NetworkPolicy', 'Pod'];
  const sorted = docs.filter((d) => d !== null && typeof d === 'object').sort((a, b) => order.indexOf(String(a['kind'])) - order.indexOf(String(b['kind'])));
  for (const d of sorted) {
    const kind = asString(d['kind']) ?? '';
    const meta = asRecord(d['metadata']) ?? {};
    const name = asString(meta['name']) ?? '';
    const ns = asString(meta['namespace']) ?? (kind === 'Namespace' || kind === 'Node' ? undefined : 'default');
    if (kind === 'Pod') {
      const p = parsePod(d);
      const existing = st.pods.find((x) => x.namespace === p.namespace && x.name === p.name);
      if (existing) {
        await removePod(st, existing);
        st.pods = st.pods.filter((x) => x !== existing);
      }
      progress(`pod ${p.namespace}/${p.name}`);
      st.pods.push(await addPod(st, p));
      saveState(st);
      continue;
    }
    if (kind === 'Node') {
      const cur = await c.get('Node', undefined, name);
      if (!cur) throw new Error(`node ${name} is not in this lab`);
      await c.patch('Node', undefined, name, { metadata: { labels: asRecord(meta['labels']) ?? {}, annotations: asRecord(meta['annotations']) ?? {} } });
      continue;
    }
    if (ns !== undefined && isKubernetes(st)) await ensureNamespace(c, ns);
    const cur = await c.get(kind, ns, name);
    if (cur) await c.update({ ...d, metadata: { ...meta, ...(ns ? { namespace: ns } : {}), resourceVersion: asRecord(cur['metadata'])?.['resourceVersion'] } });
    else await c.create({ ...d, metadata: { ...meta, ...(ns ? { namespace: ns } : {}) } });
    if (kind === 'Service' && isKubernetes(st) && asString(asRecord(d['spec'])?.['type']) === 'LoadBalancer') await waitLoadBalancerAddress(c, ns ?? 'default', name);
  }
}

/** As the fixture does at once: return only when kube-router's allocator has given the Service its address. */
async function waitLoadBalancerAddress(c: KubeClient, ns: string, name: string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    const s = await c.get('Service', ns, name);
    if (asArray(asRecord(asRecord(s?.['status'])?.['loadBalancer'])?.['ingress']).length > 0) return;
    if (asRecord(s?.['spec'])?.['loadBalancerClass'] !== undefined) return;
    if (Date.now() > end) throw new Error(`service ${ns}/${name}: no load-balancer address after 30 s (see the nodes' logs: LoadBalancerController)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function remove(st: LabState, docs: readonly JsonObject[]): Promise<void> {
  const c = client(st);
  for (const d of docs.filter((x) => x !== null && typeof x === 'object')) {
    const kind = asString(d['kind']) ?? '';
    const meta = asRecord(d['metadata']) ?? {};
    const name = asString(meta['name']) ?? '';
    const ns = asString(meta['namespace']) ?? (kind === 'Namespace' ? undefined : 'default');
    if (kind === 'Pod') {
      const pod = st.pods.find((x) => x.namespace === ns && x.name === name);
      if (pod) {
        await removePod(st, pod);
        st.pods = st.pods.filter((x) => x !== pod);
        saveState(st);
      }
    } else await c.delete(kind, ns, name);
  }
}

export interface ProbeResult {
  readonly ok: boolean;
  readonly answer?: string;
  readonly client?: string;
  readonly output: string;
}

export function netnsOf(st: LabState, from: string): string {
  if (from === 'external') return netns.external(st.plan.name);
  if (from.startsWith('node/')) return netns.node(st.plan.name, Number(from.slice(5).replace('node-', '')) - 1);
  const [ns, name] = from.includes('/') ? from.split('/') : ['default', from];
  const pod = st.pods.find((p) => p.namespace === ns && p.name === name);
  if (!pod) throw new Error(`no pod ${from} in lab ${st.plan.name}`);
  return pod.netns;
}

export async function probe(st: LabState, from: string, to: string, proto: 'tcp' | 'udp', timeoutMs: number, keepMs = 0): Promise<ProbeResult> {
  const ns = netnsOf(st, from);
  const r = await nsRun(ns, 'node', join(DIST, 'lab/probe-client.js'), '--to', to, '--proto', proto, '--timeout-ms', String(timeoutMs), ...(keepMs > 0 ? ['--keep-ms', String(keepMs)] : [])).then(
    (x) => ({ ok: true, out: x.stdout }),
    (e: unknown) => ({ ok: false, out: String((e as { details?: { stdout?: string } }).details?.stdout ?? e) }),
  );
  const lines = r.out.trim().split('\n');
  const client = lines.find((l) => l.startsWith('client '))?.slice(7);
  return { ok: r.ok, ...(r.ok ? { answer: lines[lines.length - 1] } : {}), ...(client !== undefined ? { client } : {}), output: r.out };
}

export interface MatrixTarget {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
}

/** Probes many targets in parallel from one place (`ns/pod`, `node/NAME`, `external`): key → answered. */
export async function probeMany(st: LabState, from: string, targets: readonly MatrixTarget[], timeoutMs: number): Promise<Map<string, boolean>> {
  const r = await nsRun(netnsOf(st, from), 'node', join(DIST, 'lab/matrix-client.js'), '--timeout-ms', String(timeoutMs), JSON.stringify(targets));
  return new Map(Object.entries(JSON.parse(r.stdout) as Record<string, boolean>));
}

async function daemonView(st: LabState, i: number): Promise<Record<string, unknown>> {
  const r = await nsRun(netns.node(st.plan.name, i), 'curl', '-s', '-m', '2', 'http://127.0.0.1:20245/metrics').catch(() => ({ stdout: '' }));
  const metric = (re: RegExp): string | undefined => re.exec(r.stdout)?.[1];
  const peers = [...r.stdout.matchAll(/^kube_router_bgp_peer_info\{([^}]*)\} 1/gm)].map((m) => m[1]);
  return {
    healthz: await nodeHealth(st, i),
    proxyBackend: metric(/^kube_router_proxy_backend_info\{backend="(\w+)"\} 1/m),
    serviceFrontends: Number(metric(/^kube_router_controller_ipvs_services (\d+)/m) ?? NaN),
    bgpPeers: peers,
    policyChains: Number(metric(/^kube_router_controller_policy_chains (\d+)/m) ?? NaN),
  };
}

export async function status(st: LabState): Promise<Record<string, unknown>> {
  const c = client(st);
  const services = (await c.list('Service')).map((s) => {
    const m = asRecord(s['metadata']);
    const spec = asRecord(s['spec']);
    return {
      namespace: m?.['namespace'],
      name: m?.['name'],
      type: spec?.['type'],
      clusterIPs: spec?.['clusterIPs'],
      externalIPs: spec?.['externalIPs'] ?? [],
      loadBalancerIPs: asArray(asRecord(asRecord(s['status'])?.['loadBalancer'])?.['ingress']).map((x) => asRecord(x)?.['ip']),
      ports: asArray(spec?.['ports']).map((p) => {
        const r = asRecord(p);
        return { name: r?.['name'] ?? '', port: r?.['port'], protocol: r?.['protocol'], nodePort: r?.['nodePort'] };
      }),
    };
  });
  const nodes = [];
  for (let i = 0; i < st.plan.nodes; i++) {
    nodes.push({ name: nodeName(i), netns: netns.node(st.plan.name, i), ips: [nodeIP(st.plan, i), ...(st.plan.ipv6 ? [nodeIP6(i)] : [])], podCIDRs: [podCidr(i), ...(st.plan.ipv6 ? [podCidr6(i)] : [])], daemon: await daemonView(st, i) });
  }
  return {
    name: st.plan.name,
    controlPlane: { kind: st.controlPlane?.kind ?? 'fixture', version: st.controlPlane?.version ?? 'fixture' },
    nodes,
    pods: st.pods.map((p) => ({ namespace: p.namespace, name: p.name, node: p.node, ips: p.ips })),
    services,
    fabric: { netns: netns.fabric(st.plan.name), bridge: 'br0', cidr: st.plan.segments.map((s) => s.cidr), spareIPs: spareFabricIPs(st.plan) },
    external: { netns: netns.external(st.plan.name), ips: [st.plan.externalIP, '198.19.200.1'] },
  };
}

export function mustLoad(name: string): LabState {
  const st = loadState(name);
  if (!st) throw new Error(`no lab named ${name}: run 'npm run lab -- up --name ${name}' first`);
  return st;
}

export { destroyLab };
export { labPids } from './state.js';
