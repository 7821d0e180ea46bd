import assert from 'node:assert/strict';
import type { IP } from '../util/ip.js';
import type { BfdTransport } from './transport.js';

export interface BfdTransportSubject {
  /** Two nodes that reach each other: a at `aIP`, b at `bIP`. */
  readonly a: BfdTransport;
  readonly b: BfdTransport;
  readonly aIP: IP;
  readonly bIP: IP;
  /** An address that is not b's. */
  readonly notB: IP;
  /** Lets timers and sockets deliver what is in flight. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** What the BFD sessions rely on, for the UDP transport (in namespaces) and the fake alike. */
export function bfdTransportContract(name: string, setup: () => Promise<BfdTransportSubject>): void {
  describe(`BFD transport contract: ${name}`, function () {
    this.timeout(30_000);
    let s: BfdTransportSubject;
    before(async () => {
      s = await setup();
    });
    after(async () => {
      await s.close();
    });

    it('a datagram sent on a path arrives at the peer with our address and the port', async () => {
      const got: { data: string; from: IP; port: number }[] = [];
      const la = s.a.open({ local: s.aIP, remote: s.bIP, port: 3784, hop: 'single' }, () => undefined);
      const lb = s.b.open({ local: s.bIP, remote: s.aIP, port: 3784, hop: 'single' }, (d, from, port) => got.push({ data: d.toString(), from, port }));
      la.send(Buffer.from('hello'));
      await s.settle();
      assert.deepEqual(got, [{ data: 'hello', from: s.aIP, port: 3784 }]);
      la.close();
      lb.close();
    });

    it('multihop paths use their own port; a closed path hears nothing more', async () => {
      const got: string[] = [];
      const la = s.a.open({ local: s.aIP, remote: s.bIP, port: 4784, hop: 'multi' }, () => undefined);
      const lb = s.b.open({ local: s.bIP, remote: s.aIP, port: 4784, hop: 'multi' }, (d) => got.push(d.toString()));
      la.send(Buffer.from('one'));
      await s.settle();
      lb.close();
      la.send(Buffer.from('two'));
      await s.settle();
      assert.deepEqual(got, ['one']);
      la.close();
    });

    it('a path from an address the node does not have is refused with an error, not a crash', () => {
      assert.throws(() => s.b.open({ local: s.notB, remote: s.aIP, port: 3784, hop: 'single' }, () => undefined));
    });
  });
}
