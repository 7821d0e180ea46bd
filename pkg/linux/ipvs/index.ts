export * from './types.js';
export { openIpvs } from './real.js';
export { FakeIpvs } from './fake.js';
