export * from './controller.js';
export * from './health.js';
export * from './http.js';
export * from './metrics.js';
export * from './runner.js';
export * from './memory.js';
