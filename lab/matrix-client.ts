#!/usr/bin/env node
/**
 * Many probes at once from inside one namespace, for reachability matrices: every target is tried in
 * parallel (TCP: an HTTP GET; UDP: one datagram on a connected socket, so an ICMP refusal ends it at
 * once) and a JSON object `{key: true|false}` is printed: true when the target answered in time.
 *   node dist/lab/matrix-client.js --timeout-ms N '[{"key":"k","host":"198.18.64.5","port":80,"proto":"udp"}, …]'
 */
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

interface Target {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
}

const args = process.argv.slice(2);
const ti = args.indexOf('--timeout-ms');
const timeoutMs = ti >= 0 ? Number(args[ti + 1]) : 1500;
const targets = JSON.parse(args[args.length - 1] ?? '[]') as Target[];

function probe(t: Target): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (ok: boolean, close: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close();
      resolve(ok);
    };
    let close: () => void = () => undefined;
    const timer = setTimeout(() => finish(false, close), timeoutMs);
    if (t.proto === 'udp') {
      const s = createSocket(t.host.includes(':') ? 'udp6' : 'udp4');
      close = () => s.close();
      s.on('message', () => finish(true, close));
      s.on('error', () => finish(false, close));
      s.connect(t.port, t.host, () => s.send('probe', (e) => e && finish(false, close)));
    } else {
      const sock = connect({ host: t.host, port: t.port }, () => sock.write('GET / HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n'));
      close = () => sock.destroy();
      sock.on('data', () => finish(true, close));
      sock.on('error', () => finish(false, close));
    }
  });
}

const results = await Promise.all(targets.map(async (t) => [t.key, await probe(t)] as const));
process.stdout.write(JSON.stringify(Object.fromEntries(results)) + '\n');
