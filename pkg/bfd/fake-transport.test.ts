import { FakeClock } from '../util/clock.js';
import type { IP } from '../util/ip.js';
import { FakeBfdNetwork } from './fake-transport.js';
import { bfdTransportContract } from './transport-contract.test-support.js';

bfdTransportContract('fake network', () => {
  const clock = new FakeClock();
  const net = new FakeBfdNetwork(clock);
  const aIP = '198.18.0.1' as IP;
  const bIP = '198.18.0.2' as IP;
  return Promise.resolve({ a: net.transport([aIP]), b: net.transport([bIP]), aIP, bIP, notB: '198.18.0.9' as IP, settle: () => Promise.resolve(clock.advance(1)), close: () => Promise.resolve() });
});
