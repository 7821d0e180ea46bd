import { netlinkContract } from './contract.js';
import { FakeNetlink } from './fake.js';

netlinkContract('fake', () => {
  const nl = new FakeNetlink();
  return Promise.resolve({ nl, addUplink: () => Promise.resolve(nl.addLink('krt0')), close: () => Promise.resolve() });
});
