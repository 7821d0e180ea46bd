export * from './fake.js';
export * from './real.js';
export * from './restore-error.js';
export * from './types.js';
