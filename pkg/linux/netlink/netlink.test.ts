import { netlinkContract } from './contract.test-support.js';
import { FakeNetlink } from './fake.js';

netlinkContract('fake', () => {
  const nl = new FakeNetlink();
  return Promise.resolve({ nl, addUplink: () => Promise.resolve(nl.addLink('krt0')), close: () => Promise.resolve() });
});
