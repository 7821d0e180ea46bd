export * from './cleanup.js';
export * from './context.js';
export * from './controllers.js';
export * from './daemon.js';
export * from './kernel.js';
export * from './node-flags.js';
