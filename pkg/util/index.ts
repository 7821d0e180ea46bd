export * from './assert-never.js';
export * from './brand.js';
export * from './clock.js';
export * from './errors.js';
export * from './ip.js';
export * from './logger.js';
export * from './names.js';
export * from './json.js';
