/** Test support for BGP interop: our speaker as a process in a netns, BIRD and GoBGP beside it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
}

/** Our speaker in a netns, driven over stdin, observed on stdout. */
export class SpeakerProcess {
  private out = '';
  private readonly child: ChildProcess;
  best: BestPath[] = [];
  status: Status[] = [];
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
        const m = JSON.parse(line) as { best?: BestPath[]; status?: Status[] };
        if (m.best) this.best = m.best;
        if (m.status) this.status = m.status;
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

export function birdConfig(o: { routerId: string; asn: number; neighbor: string; neighbor6?: string; neighborAs: number; announce: string[]; announce6?: string[]; gracefulRestart?: boolean; hold?: number; password?: string; passive?: boolean; multihop?: number }): string {
  const peerOpts = (extra: string): string => `  ${o.multihop ? `multihop ${o.multihop}` : 'direct'};\n${o.passive ? '  passive on;\n' : ''}  hold time ${o.hold ?? 9};\n  connect retry time 1;\n  connect delay time 1;\n  error wait time 1, 2;\n${o.gracefulRestart ? '  graceful restart on;\n  graceful restart time 30;\n' : ''}${o.password ? `  password "${o.password}";\n` : ''}${extra}`;
  return [
    `router id ${o.routerId};`,
    'log stderr all;',
    'protocol device { scan time 1; }',
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
