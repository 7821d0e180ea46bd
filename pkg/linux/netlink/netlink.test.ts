import { netlinkContract } from './contract.test-support.js';
import { FakeNetlink } from './fake.js';

netlinkContract('fake', () => {
  const nl = new FakeNetlink();
  return Promise.resolve({ nl, addUplink: () => Promise.resolve(nl.addLink('krt0')), deleteRouteAsOther: (dst: string) => Promise.resolve(nl.deleteRouteAsOther(dst)), close: () => Promise.resolve() });
});
