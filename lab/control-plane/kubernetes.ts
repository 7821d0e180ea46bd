import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DIST, REPO_ROOT } from '../dist.js';
import { netns, nodeName, type LabPlan } from '../plan.js';
import { spawnDetached, waitForFile, isAlive } from '../processes.js';
import { nsRun } from '../sh.js';
import { KubeClient, type JsonObject } from '../kube-client.js';
import { builtControlPlane, type ControlPlaneBinary } from './binaries.js';
import type { KubernetesPids } from '../state.js';
import { clientCert, kubeconfigYaml, makePki, pkiPaths, type ClientCert } from './pki.js';

/** The lab's IPv6 service range (the IPv4 one is in the plan). */
export const SERVICE_CIDR6 = '2001:db8:128::/112';
/** Node IPAM's IPv6 cluster range: /64 per node, node i gets 2001:db8:64:i::/64 (registered in order). */
export const CLUSTER_CIDR6 = '2001:db8:64::/56';
/** The manifest whose ServiceAccount, ClusterRole and binding the lab applies (the shipped RBAC). */
export const RBAC_MANIFEST = 'manifests/generic-kuberouter-all-features.yaml';
/** Where a pod sees its ServiceAccount files. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';


export function apiSocket(dir: string): string {
  return join(dir, 'kube-api.sock');
}

export function adminKubeconfig(dir: string): string {
  return join(dir, 'admin.kubeconfig');
}

function bin(b: ControlPlaneBinary): string {
  const cp = builtControlPlane();
  if (!cp) throw new Error('the Kubernetes control plane is not built: run scripts/setup.sh (or bash scripts/control-plane/build.sh)');
  return cp.bin(b);
}

/** Polls a URL from inside a namespace until it answers 200. */
export async function waitHttp(ns: string, url: string, timeoutMs: number, what: string, logFile?: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await nsRun(ns, 'curl', '-sk', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', url).catch(() => ({ stdout: '000' }));
    if (r.stdout.trim() === '200') return;
    if (Date.now() > end) {
      const tail = logFile && existsSync(logFile) ? '\n' + readFileSync(logFile, 'utf8').slice(-3000) : '';
      throw new Error(`${what} not ready after ${timeoutMs} ms (${url})${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function clusterCidrs(plan: LabPlan): string {
  return [plan.podCidrBase, ...(plan.ipv6 ? [CLUSTER_CIDR6] : [])].join(',');
}

export function serviceCidrs(plan: LabPlan): string {
  return [plan.serviceCidr, ...(plan.ipv6 ? [SERVICE_CIDR6] : [])].join(',');
}

export function startEtcd(plan: LabPlan, dir: string): number {
  mkdirSync(join(dir, 'etcd'), { recursive: true });
  return spawnDetached(
    netns.api(plan.name),
    [bin('etcd'), '--name=lab', `--data-dir=${join(dir, 'etcd')}`, '--listen-client-urls=http://127.0.0.1:2379', '--advertise-client-urls=http://127.0.0.1:2379', '--listen-peer-urls=http://127.0.0.1:2380', '--initial-advertise-peer-urls=http://127.0.0.1:2380', '--initial-cluster=lab=http://127.0.0.1:2380', '--unsafe-no-fsync', '--log-level=warn', '--listen-metrics-urls=http://127.0.0.1:2381'],
    join(dir, 'etcd.log'),
  );
}

export function startApiserver(plan: LabPlan, dir: string): number {
  const pki = pkiPaths(join(dir, 'pki'));
  return spawnDetached(
    netns.api(plan.name),
    [
      bin('kube-apiserver'),
      '--etcd-servers=http://127.0.0.1:2379',
      `--bind-address=${plan.apiIP}`,
      `--advertise-address=${plan.apiIP}`,
      '--secure-port=6443',
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--service-cluster-ip-range=${serviceCidrs(plan)}`,
      '--service-node-port-range=30000-32767',
      '--profiling=false',
      '--v=1',
    ],
    join(dir, 'apiserver.log'),
  );
}

export function startControllerManager(plan: LabPlan, dir: string): number {
  const pki = pkiPaths(join(dir, 'pki'));
  return spawnDetached(
    netns.api(plan.name),
    [
      bin('kube-controller-manager'),
      `--kubeconfig=${join(dir, 'controller-manager.kubeconfig')}`,
      '--controllers=endpointslice-controller,node-ipam-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,garbage-collector-controller,root-ca-certificate-publisher-controller',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      '--allocate-node-cidrs=true',
      `--cluster-cidr=${clusterCidrs(plan)}`,
      '--node-cidr-mask-size-ipv4=24',
      ...(plan.ipv6 ? ['--node-cidr-mask-size-ipv6=64'] : []),
      `--service-cluster-ip-range=${serviceCidrs(plan)}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--profiling=false',
      '--v=1',
    ],
    join(dir, 'controller-manager.log'),
  );
}

export async function adminClient(dir: string): Promise<KubeClient> {
  const pki = pkiPaths(join(dir, 'pki'));
  const admin = await clientCert(pki, 'admin', 'lab-admin', ['system:masters']);
  return new KubeClient({ kind: 'tls', socketPath: apiSocket(dir), servername: 'kubernetes', ca: readFileSync(pki.caCert, 'utf8'), cert: admin.cert, key: admin.key });
}

export async function nodeCredentials(dir: string, node: string): Promise<ClientCert> {
  return clientCert(pkiPaths(join(dir, 'pki')), `node-${node}`, `system:node:${node}`, ['system:nodes']);
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager in the lab's API namespace (certificates
 * made now), a unix-socket forwarder for the lab's own client, and applies the shipped RBAC.
 */
export async function startKubernetes(plan: LabPlan, dir: string, pids: KubernetesPids, progress: (m: string) => void): Promise<KubeClient> {
  const api = netns.api(plan.name);
  const server = `https://${plan.apiIP}:6443`;
  const pkiDir = join(dir, 'pki');
  const pki = await makePki(pkiDir, plan.apiIP, [firstServiceIP(plan.serviceCidr), ...(plan.ipv6 ? ['2001:db8:128::1'] : [])]);
  await clientCert(pki, 'admin', 'lab-admin', ['system:masters']);
  await clientCert(pki, 'controller-manager', 'system:kube-controller-manager');
  writeFileSync(adminKubeconfig(dir), kubeconfigYaml(server, pki, join(pkiDir, 'admin.crt'), join(pkiDir, 'admin.key')));
  writeFileSync(join(dir, 'controller-manager.kubeconfig'), kubeconfigYaml(server, pki, join(pkiDir, 'controller-manager.crt'), join(pkiDir, 'controller-manager.key')));
  progress('etcd');
  pids.etcd = startEtcd(plan, dir);
  await waitHttp(api, 'http://127.0.0.1:2379/health', 20_000, 'etcd', join(dir, 'etcd.log'));
  progress('kube-apiserver');
  pids.apiserver = startApiserver(plan, dir);
  pids.forward = spawnDetached(api, ['node', join(DIST, 'lab/control-plane/socket-forward.js'), '--socket', apiSocket(dir), '--to', `${plan.apiIP}:6443`], join(dir, 'forward.log'));
  await waitHttp(api, `${server}/readyz`, 60_000, 'kube-apiserver', join(dir, 'apiserver.log'));
  await waitForFile(join(dir, 'forward.log'), /ready/, 10_000, 'the API socket forwarder');
  progress('kube-controller-manager');
  pids.controllerManager = startControllerManager(plan, dir);
  const c = await adminClient(dir);
  await applyShippedRbac(c);
  return c;
}

/**
 * Restarts kube-apiserver (etcd keeps the objects; watches break and resume, or get 410 Gone). Returns
 * once it is ready and its RBAC authorizer answers for kube-router (right after a start it refuses
 * for a moment while its caches fill; the daemons see that as 403s and retry).
 */
export async function restartApiserver(plan: LabPlan, dir: string, pids: KubernetesPids): Promise<void> {
  await stopApiserver(pids);
  pids.apiserver = startApiserver(plan, dir);
  await waitHttp(netns.api(plan.name), `https://${plan.apiIP}:6443/readyz`, 60_000, 'kube-apiserver', join(dir, 'apiserver.log'));
  const c = await adminClient(dir);
  const end = Date.now() + 30_000;
  for (;;) {
    const r = await c.call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'system:serviceaccount:kube-system:kube-router', groups: ['system:serviceaccounts'], resourceAttributes: { verb: 'watch', resource: 'services' } } });
    if ((r.body['status'] as JsonObject | undefined)?.['allowed'] === true) return;
    if (Date.now() > end) throw new Error(`kube-apiserver restarted but RBAC does not allow kube-router to watch services: ${JSON.stringify(r.body).slice(0, 300)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/**
 * Stops kube-apiserver (gone until restartApiserver): SIGTERM, then SIGKILL after 5 s (its graceful
 * shutdown otherwise waits about 20 s for open watches).
 */
export async function stopApiserver(pids: KubernetesPids): Promise<void> {
  if (pids.apiserver === undefined) return;
  const pid = pids.apiserver;
  if (isAlive(pid)) process.kill(pid, 'SIGTERM');
  const end = Date.now() + 5_000;
  while (isAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
  delete pids.apiserver;
}

/** Compacts etcd's history up to its current revision (watches resuming from before it get 410 Gone). */
export async function compactEtcd(plan: LabPlan): Promise<number> {
  const api = netns.api(plan.name);
  const st = await nsRun(api, 'curl', '-s', '-X', 'POST', 'http://127.0.0.1:2379/v3/kv/range', '-d', JSON.stringify({ key: Buffer.from('/').toString('base64'), limit: 1 }));
  const rev = Number((JSON.parse(st.stdout) as { header?: { revision?: string } }).header?.revision ?? NaN);
  if (!Number.isFinite(rev)) throw new Error(`etcd did not report its revision: ${st.stdout}`);
  await nsRun(api, 'curl', '-sf', '-X', 'POST', 'http://127.0.0.1:2379/v3/kv/compaction', '-d', JSON.stringify({ revision: String(rev), physical: true }));
  return rev;
}

function firstServiceIP(cidr: string): string {
  const [addr] = cidr.split('/');
  const parts = (addr ?? '').split('.').map(Number);
  return `${parts[0] ?? 0}.${parts[1] ?? 0}.${parts[2] ?? 0}.${(parts[3] ?? 0) + 1}`;
}

/** The ServiceAccount, ClusterRole and ClusterRoleBinding exactly as the shipped manifest has them. */
export function shippedRbac(): JsonObject[] {
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, RBAC_MANIFEST), 'utf8')).map((d) => d.toJS() as JsonObject);
  return docs.filter((d) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(String(d['kind'])));
}

async function applyShippedRbac(c: KubeClient): Promise<void> {
  for (const d of shippedRbac()) {
    const meta = d['metadata'] as JsonObject;
    const cur = await c.get(String(d['kind']), meta['namespace'] as string | undefined, String(meta['name']));
    if (cur) await c.update({ ...d, metadata: { ...meta, resourceVersion: (cur['metadata'] as JsonObject)['resourceVersion'] } });
    else await c.create(d);
  }
}

/**
 * What a pod of the DaemonSet sees in its ServiceAccount folder: a token for kube-system/kube-router
 * (TokenRequest, as the kubelet asks for it), the cluster CA and the namespace.
 */
export async function writeServiceAccountFiles(c: KubeClient, dir: string, node: string): Promise<string> {
  const folder = join(dir, 'serviceaccount', node);
  mkdirSync(folder, { recursive: true });
  const r = await c.call('POST', '/api/v1/namespaces/kube-system/serviceaccounts/kube-router/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 7 * 24 * 3600 } });
  const token = (r.body['status'] as JsonObject | undefined)?.['token'];
  if (r.status >= 300 || typeof token !== 'string') throw new Error(`TokenRequest for kube-system/kube-router: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  writeFileSync(join(folder, 'token'), token);
  writeFileSync(join(folder, 'ca.crt'), readFileSync(pkiPaths(join(dir, 'pki')).caCert));
  writeFileSync(join(folder, 'namespace'), 'kube-system');
  return folder;
}

/** The daemon's argv prefix that shows it its ServiceAccount folder where a pod would see it. */
export function inPodMounts(folder: string): string[] {
  mkdirSync(SERVICE_ACCOUNT_DIR, { recursive: true });
  return ['sh', '-c', `mount --bind "$0" ${SERVICE_ACCOUNT_DIR} && exec "$@"`, folder];
}

export function nodeNames(plan: LabPlan): string[] {
  return Array.from({ length: plan.nodes }, (_, i) => nodeName(i));
}
