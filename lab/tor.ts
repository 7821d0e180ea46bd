/**
 * The lab's top-of-rack router: the real BIRD or GoBGP in the external namespace (the nodes' default
 * gateway), peering over eBGP with every node. BIRD installs what it learns (pod CIDRs, service VIPs)
 * in the external namespace's FIB with ECMP, so the outside world reaches them; GoBGP never programs
 * a FIB (docs/testing.md), so with it the routes are only visible through its CLI.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { netns, nodeIP, segmentOf, type LabPlan } from './plan.js';
import { spawnDetached } from './processes.js';

export const TOR_ASN = 64600;
export const CLUSTER_ASN = 64512;

export interface TorOptions {
  /** Prefixes the router announces to every node (an outside network the nodes then route to). */
  readonly announce?: readonly string[];
  /** BFD on every session (BIRD's bfd protocol; the daemons get --enable-bfd with the same timers). */
  readonly bfd?: { readonly intervalMs: number; readonly multiplier: number };
}

export function torDaemonArgs(plan: LabPlan, tor: TorOptions = {}): string[] {
  // Nodes on the other segments are two hops from the router: eBGP needs a TTL of 2 there (as BIRD's `multihop 2`).
  const multihop = Array.from({ length: plan.nodes }, (_, i) => segmentOf(plan, i)).some((s) => s !== 0);
  const bfd = tor.bfd ? ['--enable-bfd', `--bfd-desired-min-tx-interval=${tor.bfd.intervalMs}ms`, `--bfd-required-min-rx-interval=${tor.bfd.intervalMs}ms`, `--bfd-detection-multiplier=${tor.bfd.multiplier}`] : [];
  return [`--peer-router-ips=${plan.externalIP}`, `--peer-router-asns=${TOR_ASN}`, `--cluster-asn=${CLUSTER_ASN}`, ...(multihop ? ['--peer-router-multihop-ttl=2'] : []), ...bfd];
}

function birdConf(plan: LabPlan, tor: TorOptions): string {
  const announce = tor.announce ?? [];
  const peers = Array.from({ length: plan.nodes }, (_, i) =>
    [
      `protocol bgp node${i + 1} {`,
      `  local ${plan.externalIP} as ${TOR_ASN};`,
      `  neighbor ${nodeIP(plan, i)} as ${CLUSTER_ASN};`,
      segmentOf(plan, i) === 0 ? '  direct;' : '  multihop 2;',
      '  hold time 9;',
      '  connect retry time 1;',
      '  connect delay time 1;',
      '  error wait time 1, 2;',
      ...(tor.bfd ? ['  bfd on;'] : []),
      `  ipv4 { import all; export ${announce.length > 0 ? 'where proto = "outside"' : 'none'}; };`,
      '}',
    ].join('\n'),
  );
  // Multihop peers' next hops resolve recursively: tell BIRD how the far segments are reached.
  const far = plan.segments.slice(1).map((s) => `route ${s.cidr} via ${plan.segments[0]?.gateway ?? ''};`);
  return [
    `router id ${plan.externalIP};`,
    'log stderr all;',
    'protocol device { scan time 1; }',
    'protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }',
    ...(far.length > 0 ? [`protocol static segments { ipv4; ${far.join(' ')} }`] : []),
    ...(announce.length > 0 ? [`protocol static outside { ipv4; ${announce.map((p) => `route ${p} blackhole;`).join(' ')} }`] : []),
    ...(tor.bfd ? [`protocol bfd { interface "*" { ${bfdTimers(tor.bfd)} }; multihop { ${bfdTimers(tor.bfd)} }; }`] : []),
    ...peers,
    '',
  ].join('\n');
}

function gobgpConf(plan: LabPlan): string {
  const lines = ['[global.config]', `  as = ${TOR_ASN}`, `  router-id = "${plan.externalIP}"`, '  port = 179', `  local-address-list = ["${plan.externalIP}"]`];
  for (let i = 0; i < plan.nodes; i++) {
    lines.push('[[neighbors]]', '  [neighbors.config]', `    neighbor-address = "${nodeIP(plan, i)}"`, `    peer-as = ${CLUSTER_ASN}`, '  [neighbors.timers.config]', '    hold-time = 9', '    keepalive-interval = 3', '    connect-retry = 1');
    if (segmentOf(plan, i) !== 0) lines.push('  [neighbors.ebgp-multihop.config]', '    enabled = true', '    multihop-ttl = 2');
    lines.push('  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', '      afi-safi-name = "ipv4-unicast"');
  }
  return lines.join('\n') + '\n';
}

const bfdTimers = (b: NonNullable<TorOptions['bfd']>): string => `min rx interval ${b.intervalMs} ms; min tx interval ${b.intervalMs} ms; multiplier ${b.multiplier};`;

/** Starts the router; returns its PID and how to ask it for its routes. */
export function startTor(plan: LabPlan, dir: string, kind: 'bird' | 'gobgp', tor: TorOptions = {}): { pid: number; routesCommand: string[] } {
  const ns = netns.external(plan.name);
  if ((tor.announce?.length || tor.bfd) && kind !== 'bird') throw new Error('announcements and BFD on the lab router need BIRD');
  if (kind === 'bird') {
    const conf = join(dir, 'tor-bird.conf');
    writeFileSync(conf, birdConf(plan, tor));
    const ctl = join(dir, 'tor-bird.ctl');
    const pid = spawnDetached(ns, ['bird', '-f', '-c', conf, '-s', ctl, '-P', join(dir, 'tor-bird.pid')], join(dir, 'tor.log'));
    return { pid, routesCommand: ['birdc', '-s', ctl, 'show', 'route'] };
  }
  const conf = join(dir, 'tor-gobgp.toml');
  writeFileSync(conf, gobgpConf(plan));
  const sock = `unix://${join(dir, 'tor-gobgp.sock')}`;
  const pid = spawnDetached(ns, ['gobgpd', '-f', conf, '-t', 'toml', '--api-hosts', sock, '--pprof-disable', '-l', 'info'], join(dir, 'tor.log'));
  return { pid, routesCommand: ['gobgp', '--target', sock, 'global', 'rib'] };
}
