import { nftablesContract } from './contract.js';
import { FakeNftables } from './fake.js';

nftablesContract('fake', () => Promise.resolve({ nft: new FakeNftables(), close: () => Promise.resolve() }));
