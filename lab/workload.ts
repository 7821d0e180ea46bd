#!/usr/bin/env node
/**
 * A lab pod's workload: listens on every declared port, TCP (HTTP/1.1, body = `namespace/name`, header
 * `x-client` = the source address it saw) and UDP (answers each datagram with `namespace/name client=ADDR`).
 * Prints `ready` once every port listens.
 *   node dist/lab/workload.js --name NS/POD [--tcp 80,81] [--udp 80,81]
 */
import { createServer } from 'node:http';
import { createSocket } from 'node:dgram';

const args = process.argv.slice(2);
const opt = (n: string): string => (args.includes(n) ? (args[args.indexOf(n) + 1] ?? '') : '');
const name = opt('--name');
const ports = (s: string): number[] => s.split(',').filter((x) => x !== '').map(Number);
const strip = (a: string | undefined): string => (a ?? '').replace(/^::ffff:/, '');

const waits: Promise<void>[] = [];
for (const port of ports(opt('--tcp'))) {
  const server = createServer((req, res) => {
    const body = `${name}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-client': strip(req.socket.remoteAddress) });
    res.end(body);
  });
  waits.push(new Promise((resolve) => server.listen({ port, host: '::', ipv6Only: false }, () => resolve())));
}
for (const port of ports(opt('--udp'))) {
  const sock = createSocket({ type: 'udp6', ipv6Only: false });
  sock.on('message', (_msg, rinfo) => sock.send(`${name} client=${strip(rinfo.address)}\n`, rinfo.port, rinfo.address));
  waits.push(new Promise((resolve) => sock.bind(port, '::', () => resolve())));
}
await Promise.all(waits);
process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));
