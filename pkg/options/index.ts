export * from './config.js';
export * from './duration.js';
export * from './flag-spec.js';
export * from './flags.js';
export * from './help.js';
export * from './load-config.js';
export * from './parse-args.js';
