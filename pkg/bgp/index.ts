export * as codec from './codec/index.js';
export * as fsm from './fsm/index.js';
