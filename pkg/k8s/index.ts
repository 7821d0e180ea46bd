export * from './object.js';
export * from './reflector.js';
export * from './transport.js';
export * from './watch-layer.js';
export * from './kinds/node.js';
export * from './resolved-kubeconfig.js';
