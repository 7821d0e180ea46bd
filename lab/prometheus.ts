import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { netns, nodeIP, nodeName, type LabPlan } from './plan.js';
import { spawnDetached } from './processes.js';
import { nsRun } from './sh.js';
import { waitHttp } from './control-plane/kubernetes.js';

/** Where Prometheus listens: the API namespace's fabric address. */
export const PROMETHEUS_PORT = 9090;
/** The daemons' metrics port in the lab (as in the DaemonSet manifests). */
export const LAB_METRICS_PORT = 20245;

/**
 * The scrape configuration a PodMonitor on the DaemonSet's metrics port amounts to: every node's
 * daemon, labelled with its node (and the pod-ish labels a PodMonitor adds).
 */
export function prometheusConfig(plan: LabPlan): string {
  return stringify({
    global: { scrape_interval: '2s', evaluation_interval: '2s' },
    scrape_configs: [
      {
        job_name: 'kube-system/kube-router',
        metrics_path: '/metrics',
        static_configs: Array.from({ length: plan.nodes }, (_, i) => ({
          targets: [`${nodeIP(plan, i)}:${LAB_METRICS_PORT}`],
          labels: { node: nodeName(i), namespace: 'kube-system', pod: `kube-router-${nodeName(i)}`, container: 'kube-router' },
        })),
      },
    ],
  });
}

/** Starts Debian's prometheus in the API namespace, scraping every node; returns its PID once ready. */
export async function startPrometheus(plan: LabPlan, dir: string): Promise<number> {
  const folder = join(dir, 'prometheus');
  mkdirSync(join(folder, 'data'), { recursive: true });
  writeFileSync(join(folder, 'prometheus.yml'), prometheusConfig(plan));
  const pid = spawnDetached(
    netns.api(plan.name),
    ['prometheus', `--config.file=${join(folder, 'prometheus.yml')}`, `--storage.tsdb.path=${join(folder, 'data')}`, `--web.listen-address=${plan.apiIP}:${PROMETHEUS_PORT}`, '--storage.tsdb.retention.time=2h', '--log.level=warn'],
    join(dir, 'prometheus.log'),
  );
  await waitHttp(netns.api(plan.name), `http://${plan.apiIP}:${PROMETHEUS_PORT}/-/ready`, 30_000, 'prometheus', join(dir, 'prometheus.log'));
  return pid;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

/** An instant query against the lab's Prometheus (from inside the API namespace). */
export async function promQuery(plan: LabPlan, expr: string): Promise<PromSample[]> {
  const url = `http://${plan.apiIP}:${PROMETHEUS_PORT}/api/v1/query`;
  const r = await nsRun(netns.api(plan.name), 'curl', '-s', '-m', '10', '--data-urlencode', `query=${expr}`, url);
  const body = JSON.parse(r.stdout) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value?: [number, string] }[] | [number, string] } };
  if (body.status !== 'success') throw new Error(`prometheus: ${expr}: ${body.error ?? r.stdout.slice(0, 300)}`);
  const res = body.data?.result;
  if (body.data?.resultType === 'scalar' && Array.isArray(res) && res.length === 2 && typeof res[1] === 'string') return [{ metric: {}, value: Number(res[1]) }];
  return (res as { metric: Record<string, string>; value?: [number, string] }[]).map((s) => ({ metric: s.metric, value: Number(s.value?.[1] ?? NaN) }));
}
