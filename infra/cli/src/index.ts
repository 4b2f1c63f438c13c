export { runCli, USAGE, type CliOutput } from './cli.js';
