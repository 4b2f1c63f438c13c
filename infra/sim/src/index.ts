export { startSimulator, type SimulatorHandle, type StartOptions } from './simulator.js';
export {
  ConfigError,
  type DieMode,
  type EngineKind,
  type SimulatorConfig,
  type SimulatorOptions,
  type SimulatorPatch,
} from './config.js';
export type { SimStats } from './stats.js';
export { expectedTokens, tokenText, type TextMode, type TokenStyle } from './content.js';
