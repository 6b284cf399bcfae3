import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdapterConfig } from '@peft/adapter-bridge';
import { ConfigError } from '@peft/core';
import { type LlamaConfig, parseLlamaConfig } from '@peft/models';
import { type Command, Option } from 'commander';
import {
  addMethodOptions,
  intArg,
  type MethodCliOptions,
  methodFlagsGiven,
  methodOptionsFrom,
} from '../finetune/cli/options.js';
import { formatBytes, withThousands } from '../finetune/cli/output.js';
import { adapterConfigFromOptions, readAdapterConfigFile } from '../finetune/method-config.js';
import { type PlanReport, planFineTuning } from '../finetune/plan.js';

interface PlanCliOptions extends MethodCliOptions {
  adapterConfig?: string;
  batchSize: number;
  seqLen?: number;
  quantize?: 'none' | 'nf4' | 'fp4';
  json?: boolean;
}

/** Reads config.json from a model folder, or the given config file itself. */
export async function readModelConfig(path: string): Promise<{ config: LlamaConfig; file: string }> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new ConfigError(`${path} does not exist; give a model folder or its config.json`);
  const file = info.isDirectory() ? join(path, 'config.json') : path;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `${file} cannot be read (${(cause as Error).message}); give a model folder or its config.json`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${file}: not valid JSON (${(cause as Error).message})`);
  }
  return { config: parseLlamaConfig(json, file), file };
}

function formatPlan(report: PlanReport, file: string): string {
  const m = report.model;
  const a = report.adapter;
  const mem = report.training_memory;
  const bytes = (n: number) => `${formatBytes(n).padStart(10)}  (${withThousands(n)} B)`;
  const targets = Array.isArray(a.target_modules) ? a.target_modules.join(', ') : a.target_modules;
  return [
    `${file}: ${m.model_type}, ${m.num_hidden_layers} layers, hidden ${m.hidden_size}, intermediate ${m.intermediate_size}, ` +
      `${m.num_attention_heads} heads (${m.num_key_value_heads} KV), vocab ${m.vocab_size}` +
      (m.tie_word_embeddings ? ', tied embeddings' : ''),
    `parameters: ${withThousands(report.parameters)} (${m.linear_layers} linear layers)`,
    'base weights:',
    `  fp32              ${bytes(report.base_bytes.fp32)}`,
    `  fp16              ${bytes(report.base_bytes.fp16)}`,
    `  nf4               ${bytes(report.base_bytes.nf4)}`,
    `  nf4 + double quant${bytes(report.base_bytes.nf4_double_quant)}`,
    `adapter: ${a.peft_type} r=${a.r} on ${a.targeted_layers} layers (target_modules: ${targets})`,
    `  trainable params: ${withThousands(a.trainable_params)} (${a.trainable_percent.toFixed(4)}% of all)`,
    `  adapter file:     ${formatBytes(a.adapter_bytes)} of float32 tensors`,
    `training memory estimate (${mem.quantize === 'none' ? 'dense float32 base' : `${mem.quantize} base`}, ` +
      `batch ${mem.batch_size} x ${mem.seq_len} tokens):`,
    `  base weights      ${bytes(mem.base)}`,
    `  adapter + AdamW   ${bytes(mem.adapter_and_optimizer)}`,
    `  method buffers    ${bytes(mem.method_buffers)}`,
    `  activations       ${bytes(mem.activations)}`,
    `  total             ${bytes(mem.total)}`,
    '',
  ].join('\n');
}

export function registerPlanCommand(program: Command): void {
  const command = program
    .command('plan')
    .description(
      'Size a fine-tuning run from config.json alone: parameters, base bytes (fp32/fp16/nf4/nf4+double quant), ' +
        'trainable parameters, adapter bytes and a training-memory estimate',
    )
    .argument('<model>', 'model folder or its config.json (no weights are read)')
    .option(
      '--adapter-config <file>',
      'take the adapter from a PEFT adapter_config.json instead of the method options',
    );
  addMethodOptions(command);
  command
    .option('--batch-size <n>', 'batch size for the memory estimate', intArg(1), 1)
    .option(
      '--seq-len <n>',
      "sequence length for the memory estimate (default min(512, the model's max positions))",
      intArg(1),
    )
    .addOption(
      new Option(
        '--quantize <type>',
        'base storage for the memory estimate (default: nf4 for a bnb 4-bit config, else none)',
      ).choices(['none', 'nf4', 'fp4']),
    )
    .option('--json', 'print one JSON object (snake_case fields, including trainable_params)');
  command.action(async (model: string, opts: PlanCliOptions) => {
    let adapter: AdapterConfig;
    if (opts.adapterConfig) {
      const clashes = methodFlagsGiven(command);
      if (clashes.length > 0)
        command.error(`error: --adapter-config gives the whole adapter config; drop the method options`);
      adapter = await readAdapterConfigFile(opts.adapterConfig);
    } else {
      adapter = adapterConfigFromOptions(methodOptionsFrom(command, opts));
    }
    const { config, file } = await readModelConfig(model);
    const report = planFineTuning(config, {
      adapter,
      batchSize: opts.batchSize,
      ...(opts.seqLen === undefined ? {} : { seqLen: opts.seqLen }),
      ...(opts.quantize === undefined ? {} : { quantize: opts.quantize }),
    });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatPlan(report, file));
  });
}
