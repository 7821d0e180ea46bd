export * as codec from './codec/index.js';
