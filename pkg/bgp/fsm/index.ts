export * from './fsm.js';
export * from './negotiate.js';
export * from './types.js';
