import type { Command } from 'commander';
import { registerBenchCommand } from './bench.js';
import { registerDequantizeCommand } from './dequantize.js';
import { registerInspectCommand } from './inspect.js';
import { registerQuantizeCommand } from './quantize.js';

/** Each command file exports one `register*Command(program)`; list them here in help order. */
export const commands: ((program: Command) => void)[] = [
  registerQuantizeCommand,
  registerInspectCommand,
  registerDequantizeCommand,
  registerBenchCommand,
];
