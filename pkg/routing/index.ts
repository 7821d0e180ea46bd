export * from './cni-config.js';
export * from './controller.js';
