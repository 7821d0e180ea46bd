export * from './cleanup.js';
export * from '../runtime/context.js';
export * from './controllers.js';
export * from './daemon.js';
export * from '../linux/adapters.js';
export * from './node-flags.js';
