export { startDispatcher, type DispatcherHandle } from './dispatcher.js';
export { CapacityGate, type GateState } from './capacityGate.js';
export * from './engines/index.js';
