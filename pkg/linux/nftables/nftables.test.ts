import { nftablesContract } from './contract.test-support.js';
import { FakeNftables } from './fake.js';

nftablesContract('fake', () => Promise.resolve({ nft: new FakeNftables(), close: () => Promise.resolve() }));
