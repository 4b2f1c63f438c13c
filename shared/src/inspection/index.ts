export * from './queueInspector.js';
export * from './jobCancel.js';
export * from './fleet.js';
export * from './status.js';
