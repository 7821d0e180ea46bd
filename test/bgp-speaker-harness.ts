#!/usr/bin/env node
/**
 * Test support: our BGP speaker as a process (so it can live in a network namespace). Configuration
 * as JSON in argv[2]; then JSON lines on stdin (`{"peers": [...]}`, `{"originate": [...]}`,
 * `{"refresh": true}`); it prints JSON lines: `{"best": [...]}` whenever the learned best paths change
 * and `{"status": [...]}` whenever a session changes state (and every second).
 */
import { createInterface } from 'node:readline';
import { BgpSpeaker, type Origination, type PeerSpec, type SpeakerConfig } from '../pkg/bgp/speaker/speaker.js';
import { BfdSessions } from '../pkg/bfd/sessions.js';
import { udpBfdTransport } from '../pkg/bfd/udp-transport.js';
import { systemClock } from '../pkg/util/clock.js';
import { realTcpMd5 } from '../pkg/linux/tcp-md5.js';
import { realTcpSockets } from '../pkg/linux/tcp-socket.js';
import { createLogger } from '../pkg/util/logger.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as SpeakerConfig;
const logger = createLogger({ verbosity: 2, sink: { write: (line: string) => process.stderr.write(line + '\n') } });
const md5 = realTcpMd5();
const clock = systemClock();
const bfd = new BfdSessions({ clock, logger: logger.child('bfd'), transport: udpBfdTransport({ logger }) });
const speaker = new BgpSpeaker(cfg, { clock, logger, md5, sockets: realTcpSockets(md5), bfd });
const print = (o: unknown): void => {
  process.stdout.write(JSON.stringify({ ...(o as object), t: Date.now() }) + '\n');
};
let lastStatus = '';
const status = (): void => {
  const s = JSON.stringify(speaker.status());
  if (s === lastStatus) return;
  lastStatus = s;
  print({ status: speaker.status() });
};
speaker.onBestChange(() => print({ best: [...speaker.best().values()].map((p) => ({ prefix: p.prefix, nextHop: p.nextHop, peer: p.peer, stale: p.stale ?? false, communities: p.communities, asPath: p.asPath })) }));
setInterval(status, 200);
// A BFD change is printed at once (tests time detection from it); the status reads the session's new state.
bfd.onChange(() => queueMicrotask(status));
await speaker.start();
print({ ready: true });
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line) as { peers?: (Omit<PeerSpec, 'password'> & { password?: string })[]; originate?: Origination[]; refresh?: boolean };
  if (m.peers) speaker.setPeers(m.peers.map(({ password, ...p }) => ({ ...p, ...(password !== undefined ? { password: new Uint8Array(Buffer.from(password, 'utf8')) } : {}) })));
  if (m.originate) speaker.setOriginations(m.originate);
  if (m.refresh) speaker.refreshAll();
  lastStatus = '';
  status();
});
process.on('SIGTERM', () => {
  void speaker.stop().then(() => process.exit(0));
});
