export * from './fake.js';
export * from './real.js';
export * from './types.js';
