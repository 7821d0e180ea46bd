import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DIST } from '../../lab/dist.js';
import { builtControlPlane } from '../../lab/control-plane/binaries.js';

/** `npm run demo` as a user runs it: every row as expected, the real control plane's objects shown. */
describe('the demo', function () {
  this.timeout(240_000);

  it('runs end to end on the real control plane: every matrix row as expected, kubectl get and Prometheus answers printed', () => {
    const r = spawnSync('node', [join(DIST, 'lab/demo.js')], { encoding: 'utf8', timeout: 200_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /every checked row is as expected/);
    assert.doesNotMatch(r.stdout, / NO  /, 'no row is wrong');
    if (builtControlPlane()) {
      assert.match(r.stdout, /The real control plane \(Kubernetes v\d+\.\d+\.\d+\): kubectl get svc,endpointslices,networkpolicies -A/);
      assert.match(r.stdout, /endpointslice\.discovery\.k8s\.io\/web-\w+\s+IPv4\s+8080,5353/);
      assert.match(r.stdout, /networkpolicy\.networking\.k8s\.io\/web-from-client/);
    }
    assert.match(r.stdout, /BGP sessions by state: Established 9\b/);
    const done = /done in (\d+) s/.exec(r.stderr);
    assert.ok(done && Number(done[1]) <= 180, `the demo takes at most 3 minutes (${done?.[1] ?? '?'} s)`);
  });
});
