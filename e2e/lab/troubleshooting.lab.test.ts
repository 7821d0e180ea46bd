import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apply, destroyLab, readDocs, up } from '../../lab/lab.js';
import { REPO_ROOT } from '../../lab/dist.js';
import type { LabState } from '../../lab/state.js';
import { removeStaleTestLabs, testLabName } from '../../test/lab-names.js';

const LAB = testLabName('ld');
const quiet = (): void => undefined;

/**
 * Every lab command docs/troubleshooting.md shows (in code blocks and inline), for a lab named `demo`.
 * Those that make the lab (`up`, `apply`) are done by the test; commands with a placeholder in capitals
 * (POD_IP, CMD) are examples to fill in.
 */
export function troubleshootingCommands(markdown: string): string[] {
  const out: string[] = [];
  const fenced = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? '').split('\n'));
  const inline = [...markdown.replace(/```sh\n[\s\S]*?```/g, '').matchAll(/`([^`]+)`/g)].map((m) => (m[1] ?? '').replace(/\s*\n\s*/g, ' '));
  for (const raw of [...fenced, ...inline]) {
    const cmd = raw.replace(/\s+#.*$/, '').trim();
    if (!/^(npm run lab -- |ip netns exec krl-demo-)/.test(cmd)) continue;
    if (/^npm run lab -- (up|apply|down) /.test(cmd) || /\b(POD_IP|CMD|ADDRESS|NAMESPACE\/NAME)\b/.test(cmd)) continue;
    out.push(cmd);
  }
  return out;
}

describe('docs/troubleshooting.md: its commands run as written', function () {
  this.timeout(240_000);
  let st: LabState | undefined;
  const doc = readFileSync(join(REPO_ROOT, 'docs/troubleshooting.md'), 'utf8');

  before(async () => {
    await removeStaleTestLabs('ld');
    await destroyLab(LAB);
    // The lab the guide describes (its first code block), under this test's name.
    st = await up({ name: LAB, nodes: 3, subnets: 1, peer: 'bird', ipv6: false, daemonArgs: ['--advertise-loadbalancer-ip=true'], prometheus: true }, quiet);
    await apply(st, readDocs(join(REPO_ROOT, 'docs/examples/shop.yaml')), quiet);
  });
  after(async () => {
    if (st) await destroyLab(LAB);
  });

  it('the guide makes the lab it uses with exactly these two commands', () => {
    assert.match(doc, /npm run lab -- up --name demo --nodes 3 --peer bird --prometheus -- --advertise-loadbalancer-ip=true\n/);
    assert.match(doc, /npm run lab -- apply --name demo -f docs\/examples\/shop\.yaml/);
  });

  it('every other command exits 0 and prints something', () => {
    const cmds = troubleshootingCommands(doc);
    assert.ok(cmds.length >= 11, `${cmds.length} commands found`);
    const failed: string[] = [];
    for (const c of cmds) {
      const mine = c.replaceAll('--name demo', `--name ${LAB}`).replaceAll('krl-demo-', `krl-${LAB}-`);
      const r = spawnSync('sh', ['-c', mine], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0 || r.stdout.trim() === '') failed.push(`${c}\n  exit ${String(r.status)}: ${(r.stderr || r.stdout).slice(0, 300)}`);
    }
    assert.deepEqual(failed, []);
  });
});
