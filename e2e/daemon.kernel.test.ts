import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInNetns, type NsProcess } from '../test/ns-process.js';
import { FIXTURE_BIN, KUBE_ROUTER_BIN } from '../test/paths.js';
import { DAEMON_NODE_FLAGS } from '../pkg/daemon/node-flags.js';
import { throwawayNetns, type ThrowawayNetns } from '../test/throwaway-netns.js';

async function nsGet(ns: ThrowawayNetns, url: string): Promise<{ code: number; body: string }> {
  const r = await ns.exec.run(['curl', '-s', '-m', '2', '-o', '-', '-w', '\n%{http_code}', url]).catch((e: unknown) => ({ stdout: `\n000 ${String(e)}` }));
  const i = r.stdout.lastIndexOf('\n');
  return { code: Number(r.stdout.slice(i + 1, i + 4)), body: r.stdout.slice(0, i) };
}

async function untilCode(ns: ThrowawayNetns, url: string, code: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  let last = { code: 0, body: '' };
  while (Date.now() < end) {
    last = await nsGet(ns, url);
    if (last.code === code) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${url} did not answer ${code} within ${ms} ms; last ${last.code}: ${last.body}`);
}

describe('kube-router daemon against the API server fixture (in a netns)', function () {
  this.timeout(60_000);
  let ns: ThrowawayNetns;
  let dir: string;
  let api: NsProcess | undefined;
  let daemon: NsProcess | undefined;
  const startApi = async (): Promise<void> => {
    api = startInNetns(ns.name, ['node', FIXTURE_BIN, '--listen', '127.0.0.1:16443', '--socket', join(dir, 'api.sock'), '--bookmark-ms', '500']);
    await api.waitForOutput(/ready/);
  };

  beforeEach(async () => {
    ns = await throwawayNetns();
    dir = mkdtempSync(join(tmpdir(), 'krt-t-'));
    writeFileSync(join(dir, 'kubeconfig'), ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: f', '  cluster:', '    server: http://127.0.0.1:16443', '    insecure-skip-tls-verify: true', 'users:', '- name: f', '  user: {}', 'contexts:', '- name: f', '  context: {cluster: f, user: f}', 'current-context: f', ''].join('\n'));
  });
  afterEach(async () => {
    await daemon?.stop();
    await api?.stop();
    daemon = undefined;
    api = undefined;
    await ns.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves /healthz (200 once synced, 500 when the API is gone past the grace, 200 again) and /metrics; SIGTERM exits 0', async () => {
    await startApi();
    daemon = startInNetns(ns.name, ['node', ...DAEMON_NODE_FLAGS, KUBE_ROUTER_BIN, `--kubeconfig=${join(dir, 'kubeconfig')}`, '--hostname-override=node-a', '--health-port=20244', '--metrics-port=20245', '--cache-sync-timeout=2s', '--run-router=false', '--run-firewall=false', '-v', '1']);
    await untilCode(ns, 'http://127.0.0.1:20244/healthz', 200, 15_000);
    const m = await nsGet(ns, 'http://127.0.0.1:20245/metrics');
    assert.equal(m.code, 200);
    assert.match(m.body, /^kube_router_build_info\{version="[^"]+",nodeversion="v\d+/m);
    assert.match(m.body, /^process_cpu_user_seconds_total /m);
    assert.equal((await nsGet(ns, 'http://127.0.0.1:20245/other')).code, 404);

    await api?.stop();
    await untilCode(ns, 'http://127.0.0.1:20244/healthz', 500, 10_000);
    assert.match((await nsGet(ns, 'http://127.0.0.1:20244/healthz')).body, /FAIL KubernetesAPI: no contact/);
    await startApi();
    await untilCode(ns, 'http://127.0.0.1:20244/healthz', 200, 15_000);
    assert.equal(await daemon.stop(), 0);
    daemon = undefined;
  });

  it('exits 1 when the caches do not sync within --cache-sync-timeout', async () => {
    daemon = startInNetns(ns.name, ['node', ...DAEMON_NODE_FLAGS, KUBE_ROUTER_BIN, `--kubeconfig=${join(dir, 'kubeconfig')}`, '--hostname-override=node-a', '--health-port=0', '--cache-sync-timeout=1s', '--run-router=false', '--run-firewall=false']);
    assert.equal(await daemon.exited, 1);
    assert.match(daemon.output(), /caches not synced within 1000 ms/);
  });

  it('a usage error exits 2 before touching anything and names the flag', async () => {
    daemon = startInNetns(ns.name, ['node', ...DAEMON_NODE_FLAGS, KUBE_ROUTER_BIN, '--ipvs-sync-period=soon', '--peer-router-ips=198.18.0.1']);
    assert.equal(await daemon.exited, 2);
    assert.match(daemon.output(), /invalid argument "soon" for "--ipvs-sync-period"/);
    assert.match(daemon.output(), /--peer-router-asns: has 0 entries/);
  });
});
