import type { Command } from 'commander';
import { registerBenchCommand } from './bench.js';
import { registerDemoCommand } from './demo.js';
import { registerDequantizeCommand } from './dequantize.js';
import { registerDownloadCommand } from './download.js';
import { registerEvalCommand } from './eval.js';
import { registerFinetuneCommand } from './finetune.js';
import { registerGenerateCommand } from './generate.js';
import { registerInitAdapterCommand } from './init-adapter.js';
import { registerInspectCommand } from './inspect.js';
import { registerMergeCommand } from './merge.js';
import { registerPlanCommand } from './plan.js';
import { registerQuantizeCommand } from './quantize.js';
import { registerRandomModelCommand } from './random-model.js';

/** Each command file exports one `register*Command(program)`; list them here in help order. */
export const commands: ((program: Command) => void)[] = [
  registerDemoCommand,
  registerDownloadCommand,
  registerQuantizeCommand,
  registerInspectCommand,
  registerDequantizeCommand,
  registerPlanCommand,
  registerInitAdapterCommand,
  registerFinetuneCommand,
  registerEvalCommand,
  registerGenerateCommand,
  registerMergeCommand,
  registerBenchCommand,
  registerRandomModelCommand,
];
