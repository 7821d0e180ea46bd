import assert from 'node:assert/strict';
import { ALL_FLAGS, UPSTREAM_FLAGS } from './flags.js';
import { parseGoDuration } from './duration.js';
import { renderHelp } from './help.js';
import { loadConfig, type LoadDeps, type LoadResult } from './load-config.js';
import type { KubeRouterConfig } from './config.js';

const deps: LoadDeps = { env: {}, hostname: () => 'host-a', readFile: () => { throw new Error('ENOENT'); } };

function run(args: string[], d: LoadDeps = deps): KubeRouterConfig {
  const r = loadConfig(args, d);
  if (r.kind !== 'run') assert.fail(`expected a config, got ${JSON.stringify(r)}`);
  return r.config;
}
function issuesOf(r: LoadResult): string[] {
  if (r.kind !== 'usage-error') assert.fail(`expected a usage error, got ${r.kind}`);
  return r.issues.map((i) => i.message);
}

describe('options: upstream flag table', () => {
  it('has all 79 upstream flags, 76 of them besides help, version and v', () => {
    assert.equal(UPSTREAM_FLAGS.length, 79);
    assert.equal(new Set(UPSTREAM_FLAGS.map((f) => f.name)).size, 79);
    assert.equal(UPSTREAM_FLAGS.filter((f) => !['help', 'version', 'v'].includes(f.name)).length, 76);
  });
  it('lists every flag with its default in --help', () => {
    const help = renderHelp('test');
    for (const f of ALL_FLAGS) assert.match(help, new RegExp(`--${f.name}\\b`), f.name);
    assert.match(help, /--bgp-holdtime duration .*\(default 1m30s\)/);
    assert.match(help, /--service-cluster-ip-range strings .*\(default \[10\.96\.0\.0\/12\]\)/);
  });
});

describe('options: Go durations', () => {
  const cases: [string, number | undefined][] = [
    ['5s', 5000], ['1m30s', 90_000], ['2h22m', 8_520_000], ['300ms', 300], ['1.5h', 5_400_000], ['0', 0],
    ['10us', 0.01], ['', undefined], ['5', undefined], ['5x', undefined], ['s', undefined], ['1m 30s', undefined], ['-1s', -1000],
  ];
  for (const [text, ms] of cases) it(`${JSON.stringify(text)} → ${ms}`, () => assert.equal(parseGoDuration(text), ms));
});

describe('options: pflag grammar', () => {
  it('flags accepted but not implemented warn at start, naming what happens instead, and are marked in --help', () => {
    const r = loadConfig(['--enable-bfd', '--run-loadbalancer', '--use-nftables-for-netpol=true', '--enable-pprof', '--hostname-override=n1'], deps);
    assert.equal(r.kind, 'run');
    const warnings = r.kind === 'run' ? r.warnings : [];
    assert.ok(!warnings.some((w) => w.includes('--use-nftables-for-netpol')), 'the nftables firewall is implemented');
    assert.equal(r.kind === 'run' ? r.config.firewall.backend : undefined, 'nftables');
    assert.ok(warnings.some((w) => w.startsWith('flag --enable-pprof is accepted but not implemented: ')), warnings.join('\n'));
    assert.equal(warnings.length, 1, 'only the flags given (--run-loadbalancer runs the allocator, --enable-bfd BFD, --use-nftables-for-netpol the nftables firewall)');
    const help = renderHelp('test');
    for (const f of ['gobgp-admin-port', 'enable-pprof', 'disable-source-dest-check']) assert.match(help, new RegExp(`--${f}\\b.*\\[accepted, not implemented: `), f);
    for (const f of ['enable-bfd', 'bfd-port', 'bfd-detection-multiplier', 'bfd-desired-min-tx-interval', 'bfd-required-min-rx-interval']) assert.doesNotMatch(help, new RegExp(`--${f}\\b.*\\[accepted, not implemented`), f);
  });

  it('uses upstream defaults', () => {
    const c = run([]);
    assert.equal(c.runRouter, true);
    assert.equal(c.proxy.syncPeriodMs, 300_000);
    assert.equal(c.router.clusterAsn, 64512);
    assert.equal(c.health.port, 20244);
    assert.equal(c.metrics.port, 0);
    assert.deepEqual(c.serviceClusterIPRanges, ['10.96.0.0/12']);
    assert.deepEqual(c.proxy.nodePortRange, { min: 30000, max: 32767 });
    assert.equal(c.nodeName, 'host-a');
    assert.equal(c.proxy.backend, 'auto');
  });
  it('accepts --flag, --flag=false, --flag value and -v forms', () => {
    const c = run(['--run-router=false', '--masquerade-all', '--ipvs-sync-period', '1m30s', '-v', '3', '--hairpin-mode=true']);
    assert.equal(c.runRouter, false);
    assert.equal(c.proxy.masqueradeAll, true);
    assert.equal(c.proxy.syncPeriodMs, 90_000);
    assert.equal(c.verbosity, 3);
    assert.equal(c.proxy.hairpinMode, true);
    assert.equal(run(['--v=2']).verbosity, 2);
    assert.equal(run(['-v=4']).verbosity, 4);
    assert.equal(run(['-v5']).verbosity, 5);
  });
  it('slices: comma lists, repeated flags append, first use replaces the default', () => {
    const c = run(['--service-cluster-ip-range=198.18.0.0/16', '--service-cluster-ip-range', '2001:db8::/112', '--excluded-cidrs=198.19.0.0/24,198.19.1.0/24']);
    assert.deepEqual(c.serviceClusterIPRanges, ['198.18.0.0/16', '2001:db8::/112']);
    assert.deepEqual(c.proxy.excludedCidrs, ['198.19.0.0/24', '198.19.1.0/24']);
  });
  it('peers line up positionally with passwords and ports', () => {
    const c = run(['--peer-router-ips=198.18.0.1,198.18.0.2', '--peer-router-asns=64513,64514', `--peer-router-passwords=${Buffer.from('s3cret').toString('base64')},`, '--peer-router-ports=179,1790']);
    assert.deepEqual(c.router.peers, [
      { ip: '198.18.0.1', asn: 64513, port: 179, password: 's3cret' },
      { ip: '198.18.0.2', asn: 64514, port: 1790 },
    ]);
  });
  it('reads peer passwords from a file unless the flag is given', () => {
    const d: LoadDeps = { ...deps, readFile: () => `${Buffer.from('pw').toString('base64')}\n` };
    assert.equal(run(['--peer-router-ips=198.18.0.1', '--peer-router-asns=65000', '--peer-router-passwords-file=/x'], d).router.peers[0]?.password, 'pw');
  });
  it('node port range as a-b or a:b', () => {
    assert.deepEqual(run(['--service-node-port-range=30000:31000']).proxy.nodePortRange, { min: 30000, max: 31000 });
    assert.deepEqual(run(['--service-node-port-range', '1000-2000']).proxy.nodePortRange, { min: 1000, max: 2000 });
  });
  it('router-id generate / IPv4; node name precedence', () => {
    assert.deepEqual(run(['--router-id=generate']).router.routerId, { kind: 'generate' });
    assert.deepEqual(run(['--router-id=198.18.0.9']).router.routerId, { kind: 'fixed', id: '198.18.0.9' });
    assert.equal(run([], { ...deps, env: { NODE_NAME: 'n1' } }).nodeName, 'n1');
    assert.equal(run(['--hostname-override=n2'], { ...deps, env: { NODE_NAME: 'n1' } }).nodeName, 'n2');
  });
  it('accepts the removed --config-sync-period (warning) and --cluster-cidr', () => {
    const r = loadConfig(['--config-sync-period=1m', '--cluster-cidr=198.18.0.0/16'], deps);
    assert.equal(r.kind, 'run');
    if (r.kind === 'run') {
      assert.equal(r.warnings.length, 1);
      assert.match(r.warnings[0] ?? '', /config-sync-period/);
      assert.equal(r.config.router.clusterCidr, '198.18.0.0/16');
    }
  });
  it('help and version', () => {
    assert.equal(loadConfig(['-h'], deps).kind, 'help');
    assert.equal(loadConfig(['--help'], deps).kind, 'help');
    assert.equal(loadConfig(['-V'], deps).kind, 'version');
    assert.equal(loadConfig(['--version'], deps).kind, 'version');
  });
});

describe('options: validation reports every problem at once', () => {
  const bad: [string[], RegExp][] = [
    [['--no-such-flag'], /unknown flag: --no-such-flag/],
    [['--bgp-holdtime=2s'], /--bgp-holdtime: must be from 3s to 18h12m16s/],
    [['--bgp-holdtime=18h12m17s'], /--bgp-holdtime/],
    [['--bgp-holdtime=ninety'], /invalid argument "ninety" for "--bgp-holdtime" flag: expected a Go duration/],
    [['--health-port=70000'], /"--health-port".*0 to 65535/],
    [['--cluster-asn=100'], /--cluster-asn: must be a private ASN/],
    [['--peer-router-ips=198.18.0.1'], /--peer-router-asns: has 0 entries but --peer-router-ips has 1/],
    [['--peer-router-ips=198.18.0.1', '--peer-router-asns=1', '--peer-router-ports=1,2'], /--peer-router-ports: has 2 entries/],
    [['--peer-router-ips=nope', '--peer-router-asns=1'], /"nope" is not an IP address/],
    [['--ipvs-sync-period=0s'], /--ipvs-sync-period: must be greater than 0/],
    [['--service-node-port-range=3-1'], /--service-node-port-range/],
    [['--service-node-port-range=abc'], /expected "a-b" or "a:b"/],
    [['--run-router=maybe'], /invalid argument "maybe" for "--run-router"/],
    [['--overlay-type=mesh'], /--overlay-type: expected subnet or full/],
    [['--overlay-encap-port=80'], /--overlay-encap-port: must be a port from 1024/],
    [['--service-cluster-ip-range=198.18.0.0/16,198.19.0.0/16'], /different families/],
    [['--service-cluster-ip-range=a,b,c'], /at most 2/],
    [['--router-id=2001:db8::1'], /--router-id: expected an IPv4/],
    [['--service-proxy-backend=bpf'], /--service-proxy-backend/],
    [['--enable-ipv4=false'], /at least one family/],
    [['--ipvs-sync-period'], /flag needs an argument: --ipvs-sync-period/],
    [['positional'], /unexpected argument/],
    [['--bgp-graceful-restart-time=5000s'], /at most 4095s/],
    [['--peer-router-ips=198.18.0.1', '--peer-router-asns=1', '--peer-router-passwords=***'], /not base64/],
  ];
  for (const [args, re] of bad) it(args.join(' '), () => assert.ok(issuesOf(loadConfig(args, deps)).some((m) => re.test(m)), String(issuesOf(loadConfig(args, deps)))));
  it('collects several problems in one run', () => {
    assert.equal(issuesOf(loadConfig(['--bgp-holdtime=1s', '--health-port=99999', '--bogus', '--overlay-type=x'], deps)).length, 4);
  });
});
