#!/usr/bin/env node
/** npm run bench -- proxy|netpol|bgp [--json] [--smoke] ... (see each benchmark's header). */
import { benchBgp } from './bgp.js';
import { benchNetpol } from './netpol.js';
import { benchProxy } from './proxy.js';

const [which, ...rest] = process.argv.slice(2);
const benches: Record<string, (a: readonly string[]) => Promise<void>> = { proxy: benchProxy, netpol: benchNetpol, bgp: benchBgp };
const fn = which ? benches[which] : undefined;
if (!fn) {
  process.stderr.write(`usage: npm run bench -- ${Object.keys(benches).join('|')} [--json] [--smoke]\n`);
  process.exit(2);
}
fn(rest).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
