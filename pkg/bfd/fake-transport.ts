/**
 * An in-memory network for BFD: transports of several nodes exchange datagrams through the clock (a
 * zero-delay timer, so a FakeClock orders them), and a cut between two addresses drops them. The same
 * interface and contract as the UDP transport.
 */
import type { Clock } from '../util/clock.js';
import { ErrorCode, KubeRouterError } from '../util/errors.js';
import type { IP } from '../util/ip.js';
import type { BfdPath, BfdReceiver, BfdTransport } from './transport.js';

export class FakeBfdNetwork {
  private readonly listeners = new Map<string, Set<BfdReceiver>>();
  private readonly cuts = new Set<string>();
  /** Datagrams delivered, for tests that count traffic. */
  delivered = 0;

  constructor(private readonly clock: Clock) {}

  /** Drops everything between a and b (both ways) until `heal`. */
  cut(a: IP, b: IP): void {
    this.cuts.add([a, b].sort().join('|'));
  }

  heal(a: IP, b: IP): void {
    this.cuts.delete([a, b].sort().join('|'));
  }

  /** The transport of a node owning `addresses`. */
  transport(addresses: readonly IP[]): BfdTransport {
    const mine: { key: string; fn: BfdReceiver }[] = [];
    return {
      open: (path: BfdPath, receive: BfdReceiver) => {
        if (!addresses.includes(path.local)) throw new KubeRouterError(ErrorCode.Invalid, `BFD: ${path.local} is not an address of this node`);
        const key = `${path.local}|${path.port}`;
        const set = this.listeners.get(key) ?? new Set<BfdReceiver>();
        set.add(receive);
        this.listeners.set(key, set);
        const entry = { key, fn: receive };
        mine.push(entry);
        let open = true;
        return {
          send: (packet: Buffer) => {
            if (!open || this.cuts.has([path.local, path.remote].sort().join('|'))) return;
            const copy = Buffer.from(packet);
            this.clock.setTimeout(() => {
              for (const fn of this.listeners.get(`${path.remote}|${path.port}`) ?? []) {
                this.delivered++;
                fn(copy, path.local, path.port);
              }
            }, 0);
          },
          close: () => {
            open = false;
            set.delete(receive);
          },
        };
      },
      close: () => {
        for (const e of mine) this.listeners.get(e.key)?.delete(e.fn);
      },
    };
  }

  /** Injects a raw datagram, as a hostile or broken sender would. */
  inject(to: IP, port: number, from: IP, data: Buffer): void {
    for (const fn of this.listeners.get(`${to}|${port}`) ?? []) fn(data, from, port);
  }
}
