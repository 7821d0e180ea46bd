#!/usr/bin/env node
/**
 * Forwards a unix socket to a TCP address: run in the lab's API namespace so the lab's CLI (in the
 * root namespace) reaches the API server without any route into the lab.
 *   node dist/lab/control-plane/socket-forward.js --socket PATH --to HOST:PORT
 */
import { createServer, connect } from 'node:net';
import { rmSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (n: string): string => (args.includes(n) ? (args[args.indexOf(n) + 1] ?? '') : '');
const socket = opt('--socket');
const to = opt('--to');
const sep = to.lastIndexOf(':');
const host = to.slice(0, sep);
const port = Number(to.slice(sep + 1));

rmSync(socket, { force: true });
const server = createServer((client) => {
  const upstream = connect({ host, port });
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(socket, () => process.stdout.write(`ready ${socket} -> ${to}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
