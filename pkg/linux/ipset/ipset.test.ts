import { ipsetContract } from './contract.test-support.js';
import { FakeIpset } from './fake.js';

ipsetContract('fake', () => Promise.resolve({ ipset: new FakeIpset(), close: () => Promise.resolve() }));
