#!/usr/bin/env node
/**
 * One probe from inside a namespace: connects (TCP: HTTP GET; UDP: one datagram) and prints
 * `client ADDR` (the source the server saw) then the answering `namespace/name` as the last line.
 * Exit 0 answered, 1 nothing answered in time (refused, dropped, timed out).
 *   node dist/lab/probe-client.js --to ADDR:PORT [--proto tcp|udp] [--timeout-ms N] [--keep-ms N]
 * With --keep-ms the TCP connection is held open that long after the answer (for restart tests).
 */
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

const args = process.argv.slice(2);
const opt = (n: string, d: string): string => (args.includes(n) ? (args[args.indexOf(n) + 1] ?? d) : d);
const to = opt('--to', '');
const proto = opt('--proto', 'tcp');
const timeoutMs = Number(opt('--timeout-ms', '2000'));
const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(to);
if (!m) {
  process.stderr.write(`bad --to ${to}\n`);
  process.exit(2);
}
const host = m[1] as string;
const port = Number(m[2]);
const done = (ok: boolean, text: string): never => {
  process.stdout.write(text);
  process.exit(ok ? 0 : 1);
};
setTimeout(() => done(false, 'timeout\n'), timeoutMs + Number(opt('--keep-ms', '0')));

if (proto === 'udp') {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('message', (msg) => {
    const [nameText = '', client = ''] = msg.toString().trim().split(' client=');
    done(true, `client ${client}\n${nameText}\n`);
  });
  s.on('error', (e) => done(false, `error ${e.message}\n`));
  s.send('probe', port, host);
} else {
  let buf = '';
  const sock = connect({ host, port }, () => sock.write(`GET / HTTP/1.1\r\nhost: probe\r\nconnection: ${args.includes('--keep-ms') ? 'keep-alive' : 'close'}\r\n\r\n`));
  sock.on('data', (d) => {
    buf += d.toString();
    const i = buf.indexOf('\r\n\r\n');
    if (i < 0) return;
    const client = /x-client: ([^\r]+)/i.exec(buf)?.[1] ?? '';
    let body = buf.slice(i + 4);
    if (/transfer-encoding: chunked/i.test(buf.slice(0, i))) {
      // size line, data, CRLF … until a zero-size chunk
      if (!/\r\n0\r\n/.test(`\r\n${body}`)) return;
      let out = '';
      let rest = body;
      for (;;) {
        const nl = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, nl), 16);
        if (!(size > 0)) break;
        out += rest.slice(nl + 2, nl + 2 + size);
        rest = rest.slice(nl + 2 + size + 2);
      }
      body = out;
    }
    body = body.trim();
    if (body === '') return;
    const keep = Number(opt('--keep-ms', '0'));
    if (keep > 0) {
      // Hold the connection and prove it still works at the end: a second request on the same socket.
      setTimeout(() => {
        buf = '';
        sock.write('GET / HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n');
      }, keep);
      args.splice(args.indexOf('--keep-ms'), 2);
      return;
    }
    done(true, `client ${client}\n${body}\n`);
  });
  sock.on('error', (e) => done(false, `error ${e.message}\n`));
}
