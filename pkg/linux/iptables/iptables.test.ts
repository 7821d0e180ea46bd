import { iptablesContract } from './contract.test-support.js';
import { FakeIptables } from './fake.js';

iptablesContract('fake v4', () => Promise.resolve({ ipt: new FakeIptables(4), close: () => Promise.resolve() }));
iptablesContract('fake v6', () => Promise.resolve({ ipt: new FakeIptables(6), close: () => Promise.resolve() }));
