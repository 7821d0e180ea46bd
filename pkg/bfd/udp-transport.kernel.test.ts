import assert from 'node:assert/strict';
import type { ThrowawayNetns } from '../../test/throwaway-netns.js';
import { peerLink } from '../bgp/speaker/interop.test-support.js';
import type { IP } from '../util/ip.js';
import { memoryLogger } from '../util/logger.js';
import { bfdTransportContract } from './transport-contract.test-support.js';
import { udpBfdTransport } from './udp-transport.js';

/** Two namespaces on a veth (the BGP interop tests' link): a 198.18.0.1/30 and 2001:db8:ff::1, b .2 and ::2. */
async function pair(): Promise<{ a: ThrowawayNetns; b: ThrowawayNetns; close(): Promise<void> }> {
  const l = await peerLink();
  return { a: l.ours, b: l.peer, close: () => l.close() };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 150));

bfdTransportContract('UDP in namespaces', async () => {
  const p = await pair();
  const logger = memoryLogger(0).logger;
  const a = udpBfdTransport({ logger, netns: p.a.name });
  const b = udpBfdTransport({ logger, netns: p.b.name });
  return { a, b, aIP: '198.18.0.1' as IP, bIP: '198.18.0.2' as IP, notB: '198.18.0.1' as IP, settle, close: async () => (a.close(), b.close(), await p.close()) };
});

describe('BFD over UDP: the TTL rules of RFC 5881 in the kernel', function () {
  this.timeout(30_000);
  let p: Awaited<ReturnType<typeof pair>>;
  before(async () => {
    p = await pair();
  });
  after(async () => {
    await p.close();
  });

  for (const family of [4, 6] as const) {
    const aIP = (family === 4 ? '198.18.0.1' : '2001:db8:ff::1') as IP;
    const bIP = (family === 4 ? '198.18.0.2' : '2001:db8:ff::2') as IP;
    it(`IPv${family}: our packets leave with TTL 255 and pass the peer's single-hop check; TTL 254 or 64 is dropped there, multihop takes any`, async () => {
      const logger = memoryLogger(0).logger;
      const a = udpBfdTransport({ logger, netns: p.a.name });
      const b = udpBfdTransport({ logger, netns: p.b.name });
      const single: string[] = [];
      const multi: string[] = [];
      const la = a.open({ local: aIP, remote: bIP, port: 3784, hop: 'single' }, () => undefined);
      b.open({ local: bIP, remote: aIP, port: 3784, hop: 'single' }, (d) => single.push(d.toString()));
      b.open({ local: bIP, remote: aIP, port: 4784, hop: 'multi' }, (d) => multi.push(d.toString()));
      la.send(Buffer.from('ours'));
      // A sender one hop away (or spoofing from further): the same datagram with a lower TTL.
      const script = `const s=require('dgram').createSocket('udp${family}');s.bind(0,'${aIP}',()=>{let n=0;for(const [t,port] of [[254,3784],[64,3784],[64,4784]]){s.setTTL(t);s.send('ttl'+t,port,'${bIP}',()=>{if(++n===3)s.close()})}})`;
      await p.a.exec.run(['node', '-e', script]);
      await settle();
      assert.deepEqual(single, ['ours'], 'the single-hop socket took only the TTL-255 datagram');
      assert.deepEqual(multi, ['ttl64']);
      a.close();
      b.close();
    });
  }

  it('with no session open no BFD socket is bound; the last close frees the port', async () => {
    const logger = memoryLogger(0).logger;
    const b = udpBfdTransport({ logger, netns: p.b.name });
    const ports = async (): Promise<string> => (await p.b.exec.run(['ss', '-Hnul'])).stdout;
    assert.doesNotMatch(await ports(), /:3784\b/);
    const l1 = b.open({ local: '198.18.0.2' as IP, remote: '198.18.0.1' as IP, port: 3784, hop: 'single' }, () => undefined);
    const l2 = b.open({ local: '198.18.0.2' as IP, remote: '198.18.0.9' as IP, port: 3784, hop: 'single' }, () => undefined);
    await settle();
    assert.match(await ports(), /:3784\b/);
    l1.close();
    await settle();
    assert.match(await ports(), /:3784\b/, 'still used by the second session');
    l2.close();
    await settle();
    assert.doesNotMatch(await ports(), /:3784\b/);
    b.close();
  });
});
