export * from './fake.js';
export * from './parse-json.js';
export * from './real.js';
export * from './types.js';
export * from './session.js';
