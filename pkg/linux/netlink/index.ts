export * from './fake.js';
export * from './real.js';
export * from './render.js';
export * from './types.js';
