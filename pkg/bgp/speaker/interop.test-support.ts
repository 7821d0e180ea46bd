/** Test support for BGP interop: our speaker as a process in a netns, BIRD and GoBGP beside it. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST } from '../../../test/paths.js';
import { startInNetns, type NsProcess } from '../../../test/ns-process.js';
import { throwawayNetns, type ThrowawayNetns } from '../../../test/throwaway-netns.js';
import type { Origination, PeerSpec, SpeakerConfig } from './speaker.js';

export interface BestPath {
  prefix: string;
  nextHop: string;
  peer: string;
  stale: boolean;
  communities: number[];
  asPath: number[];
}
export interface Status {
  address: string;
  state: string;
  received: number;
  accepted: number;
  advertised: number;
  bfd?: { state: string; remoteState: string; detectionTimeMs: number; txIntervalMs: number; downs: number };
}

/** Our speaker in a netns, driven over stdin, observed on stdout. */
export class SpeakerProcess {
  private out = '';
  private readonly child: ChildProcess;
  best: BestPath[] = [];
  status: Status[] = [];
  /** When the harness printed the latest status and best paths (its Date.now()). */
  statusAt = 0;
  bestAt = 0;
  log = '';
  readonly exited: Promise<void>;

  constructor(netns: string, cfg: SpeakerConfig) {
    this.child = spawn('ip', ['netns', 'exec', netns, 'node', join(DIST, 'test/bgp-speaker-harness.js'), JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => {
      this.out += d.toString();
      let i: number;
      while ((i = this.out.indexOf('\n')) >= 0) {
        const line = this.out.slice(0, i);
        this.out = this.out.slice(i + 1);
        const m = JSON.parse(line) as { best?: BestPath[]; status?: Status[]; t?: number };
        if (m.best) [this.best, this.bestAt] = [m.best, m.t ?? Date.now()];
        if (m.status) [this.status, this.statusAt] = [m.status, m.t ?? Date.now()];
      }
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.log += d.toString();
      if (this.log.length > 200_000) this.log = this.log.slice(-100_000);
    });
    this.exited = new Promise((r) => this.child.on('exit', () => r()));
  }

  /** Peers travel as JSON: a password is given as text and becomes the key's bytes in the harness. */
  send(m: { peers?: (Omit<PeerSpec, 'password'> & { password?: string })[]; originate?: Origination[]; refresh?: boolean }): void {
    this.child.stdin?.write(JSON.stringify(m) + '\n');
  }

  state(peer: string): string | undefined {
    return this.status.find((s) => s.address === peer)?.state;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.child.kill(signal);
    return this.exited;
  }
}

export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000, detail: () => string = () => ''): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Two namespaces joined by a veth: ours (…::1 / .1) and the peer's (…::2 / .2). */
export interface PeerLink {
  readonly ours: ThrowawayNetns;
  readonly peer: ThrowawayNetns;
  readonly dir: string;
  close(): Promise<void>;
}

export async function peerLink(): Promise<PeerLink> {
  const ours = await throwawayNetns();
  const peer = await throwawayNetns();
  await ours.exec.run(['ip', 'link', 'set', 'lo', 'up']);
  await peer.exec.run(['ip', 'link', 'set', 'lo', 'up']);
  await ours.exec.run(['ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', peer.name]);
  await ours.exec.run(['ip', 'addr', 'add', '198.18.0.1/30', 'dev', 'va']);
  await ours.exec.run(['ip', 'addr', 'add', '2001:db8:ff::1/64', 'dev', 'va', 'nodad']);
  await ours.exec.run(['ip', 'link', 'set', 'va', 'up']);
  await peer.exec.run(['ip', 'addr', 'add', '198.18.0.2/30', 'dev', 'vb']);
  await peer.exec.run(['ip', 'addr', 'add', '2001:db8:ff::2/64', 'dev', 'vb', 'nodad']);
  await peer.exec.run(['ip', 'link', 'set', 'vb', 'up']);
  // The carrier comes up a moment after the link (the kernel's link watch): until then nothing passes.
  for (const [ns, dev] of [[ours, 'va'], [peer, 'vb']] as const) {
    for (let i = 0; !/state UP/.test((await ns.exec.run(['ip', '-o', 'link', 'show', 'dev', dev])).stdout); i++) {
      if (i > 100) throw new Error(`${dev} has no carrier`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'krt-bgp-'));
  return {
    ours,
    peer,
    dir,
    close: async () => {
      await ours.remove();
      await peer.remove();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function birdConfig(o: { routerId: string; asn: number; neighbor: string; neighbor6?: string; neighborAs: number; announce: string[]; announce6?: string[]; gracefulRestart?: boolean; hold?: number; password?: string; passive?: boolean; multihop?: number; bfd?: { intervalMs: number; multiplier: number } }): string {
  const peerOpts = (extra: string): string => `  ${o.multihop ? `multihop ${o.multihop}` : 'direct'};\n${o.passive ? '  passive on;\n' : ''}  hold time ${o.hold ?? 9};\n  connect retry time 1;\n  connect delay time 1;\n  error wait time 1, 2;\n${o.gracefulRestart ? '  graceful restart on;\n  graceful restart time 30;\n' : ''}${o.password ? `  password "${o.password}";\n` : ''}${o.bfd ? '  bfd on;\n' : ''}${extra}`;
  const bfdTimers = o.bfd ? `min rx interval ${o.bfd.intervalMs} ms; min tx interval ${o.bfd.intervalMs} ms; multiplier ${o.bfd.multiplier};` : '';
  return [
    `router id ${o.routerId};`,
    'log stderr all;',
    'protocol device { scan time 1; }',
    ...(o.bfd ? [`protocol bfd { interface "*" { ${bfdTimers} }; multihop { ${bfdTimers} }; }`] : []),
    `protocol static announce4 { ipv4; ${o.announce.map((p) => `route ${p} blackhole;`).join(' ')} }`,
    ...(o.announce6 ? [`protocol static announce6 { ipv6; ${o.announce6.map((p) => `route ${p} blackhole;`).join(' ')} }`] : []),
    'protocol kernel kernel4 { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }',
    ...(o.neighbor6 ? ['protocol kernel kernel6 { ipv6 { import none; export where source = RTS_BGP; }; merge paths on; }'] : []),
    `protocol bgp ours {\n  local ${o.routerId} as ${o.asn};\n  neighbor ${o.neighbor} as ${o.neighborAs};\n${peerOpts('')}  ipv4 { import all; export where proto = "announce4"; next hop self; };\n}`,
    ...(o.neighbor6 ? [`protocol bgp ours6 {\n  local ${o.neighbor6.replace(/::1$/, '::2')} as ${o.asn};\n  neighbor ${o.neighbor6} as ${o.neighborAs};\n${peerOpts('')}  ipv6 { import all; export where proto = "announce6"; next hop self; };\n}`] : []),
    '',
  ].join('\n');
}

export function startBird(netns: string, dir: string, conf: string, name = 'bird'): { proc: NsProcess; ctl: string } {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  const ctl = join(dir, `${name}.ctl`);
  return { proc: startInNetns(netns, ['bird', '-f', '-c', file, '-s', ctl, '-P', join(dir, `${name}.pid`)]), ctl };
}

export function gobgpConfig(o: { routerId: string; asn: number; neighbor: string; neighborAs: number; password?: string; v6?: boolean; gracefulRestart?: boolean; rrClient?: boolean; passive?: boolean }): string {
  return [
    '[global.config]',
    `  as = ${o.asn}`,
    `  router-id = "${o.routerId}"`,
    '  port = 179',
    `  local-address-list = ["${o.routerId}"${o.v6 ? ', "2001:db8:ff::2"' : ''}]`,
    '[[neighbors]]',
    '  [neighbors.config]',
    `    neighbor-address = "${o.neighbor}"`,
    `    peer-as = ${o.neighborAs}`,
    ...(o.password ? [`    auth-password = "${o.password}"`] : []),
    ...(o.passive ? ['  [neighbors.transport.config]', '    passive-mode = true'] : []),
    '  [neighbors.timers.config]',
    '    hold-time = 9',
    '    keepalive-interval = 3',
    '    connect-retry = 1',
    ...(o.gracefulRestart ? ['  [neighbors.graceful-restart.config]', '    enabled = true', '    restart-time = 30'] : []),
    '  [[neighbors.afi-safis]]',
    '    [neighbors.afi-safis.config]',
    '      afi-safi-name = "ipv4-unicast"',
    ...(o.v6 ? ['  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', '      afi-safi-name = "ipv6-unicast"'] : []),
    '',
  ].join('\n');
}

export function startGobgp(netns: string, dir: string, conf: string, name = 'gobgp'): { proc: NsProcess; cli: (...args: string[]) => string[] } {
  const file = join(dir, `${name}.toml`);
  writeFileSync(file, conf);
  const sock = `unix://${join(dir, `${name}.sock`)}`;
  return {
    proc: startInNetns(netns, ['gobgpd', '-f', file, '-t', 'toml', '--api-hosts', sock, '--pprof-disable', '-l', 'info']),
    cli: (...args: string[]) => ['gobgp', '--target', sock, ...args],
  };
}

/**
 * FRR in a namespace: zebra (it programs the namespace's FIB), bgpd and bfdd, each with its own
 * config file in `dir` (owned by user frr: FRR refuses to run as root), sockets in `dir`.
 */
export async function startFrr(netns: string, dir: string, o: { routerId: string; asn: number; neighbor: string; neighborAs: number; announce: string[]; bfd?: { intervalMs: number; multiplier: number } }): Promise<{ procs: NsProcess[]; vtysh: (...cmd: string[]) => string[]; stop(): Promise<void> }> {
  const d = join(dir, 'frr');
  chmodSync(dir, 0o755); // (a mkdtemp directory is 0700: user frr could not reach its own)
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'zebra.conf'), 'hostname frr-test\n');
  writeFileSync(join(d, 'bfdd.conf'), o.bfd ? `bfd\n profile fast\n  receive-interval ${o.bfd.intervalMs}\n  transmit-interval ${o.bfd.intervalMs}\n  detect-multiplier ${o.bfd.multiplier}\n !\n!\n` : '');
  writeFileSync(
    join(d, 'bgpd.conf'),
    [
      `router bgp ${o.asn}`,
      ` bgp router-id ${o.routerId}`,
      ' no bgp ebgp-requires-policy',
      ' no bgp network import-check',
      ` neighbor ${o.neighbor} remote-as ${o.neighborAs}`,
      ` neighbor ${o.neighbor} timers 3 9`,
      ` neighbor ${o.neighbor} timers connect 1`,
      ...(o.bfd ? [` neighbor ${o.neighbor} bfd profile fast`] : []),
      ' address-family ipv4 unicast',
      ...o.announce.map((p) => `  network ${p}`),
      ' exit-address-family',
      '!',
      '',
    ].join('\n'),
  );
  execFileSync('chown', ['-R', 'frr:frr', d]);
  const common = (name: string): string[] => ['-N', `krt${process.pid}`, '-z', join(d, 'zserv.api'), '--vty_socket', d, '-u', 'frr', '-g', 'frr', '-P', '0', '-f', join(d, `${name}.conf`), '-i', join(d, `${name}.pid`), '--log', 'stdout'];
  const procs: NsProcess[] = [];
  procs.push(startInNetns(netns, ['/usr/lib/frr/zebra', ...common('zebra')]));
  for (let i = 0; !existsSync(join(d, 'zserv.api')); i++) {
    if (i > 100) throw new Error(`zebra did not start:\n${procs[0]?.output() ?? ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  procs.push(startInNetns(netns, ['/usr/lib/frr/bfdd', ...common('bfdd'), '--bfdctl', join(d, 'bfdd.sock')]));
  procs.push(startInNetns(netns, ['/usr/lib/frr/bgpd', ...common('bgpd')]));
  return {
    procs,
    vtysh: (...cmd: string[]) => ['vtysh', '--vty_socket', d, ...cmd.flatMap((c) => ['-c', c])],
    stop: async () => {
      for (const p of procs.reverse()) await p.stop();
    },
  };
}
