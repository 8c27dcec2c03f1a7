export { createProgram, type RunOptions, run } from './program.js';
