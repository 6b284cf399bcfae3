import { WASM_HEAP_CEILING_BYTES } from '@peft/training';
import { type PlanReport, plan } from '@peft/training/node';
import type { Command } from 'commander';
import {
  addMethodOptions,
  addQuantizeOptions,
  intArg,
  methodFlagsGiven,
  methodOptionsFrom,
  quantizeOptionsFrom,
} from '../cli/options.js';
import { formatBytes, withThousands } from '../cli/output.js';

interface PlanCliOptions {
  adapterConfig?: string;
  batchSize: number;
  seqLen?: number;
  gradientCheckpointing?: boolean;
  quantize?: string;
  json?: boolean;
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
    ...Object.entries(report.base_bytes.quantized).map(([name, n]) => `  ${name.padEnd(18)}${bytes(n)}`),
    `adapter: ${a.peft_type}${a.r === null ? '' : ` r=${a.r}`} on ${a.targeted_layers} layers (target_modules: ${targets})`,
    `  trainable params: ${withThousands(a.trainable_params)} (${a.trainable_percent.toFixed(4)}% of all)`,
    `  adapter file:     ${formatBytes(a.adapter_bytes)} of float32 tensors`,
    `training memory estimate (${mem.quantize === 'none' ? 'dense float32 base' : `${mem.quantize} base`}, ` +
      `batch ${mem.batch_size} x ${mem.seq_len} tokens${mem.gradient_checkpointing ? ', gradient checkpointing' : ''}):`,
    `  base weights      ${bytes(mem.base)}`,
    `  packed copies     ${bytes(mem.packed_weights)}`,
    `  adapter + AdamW   ${bytes(mem.adapter_and_optimizer)}`,
    `  method buffers    ${bytes(mem.method_buffers)}`,
    `  activations       ${bytes(mem.activations)}`,
    `  wasm heap         ${bytes(mem.wasm_heap)}${mem.wasm_heap > WASM_HEAP_CEILING_BYTES ? '  over the 4 GiB ceiling' : ''}`,
    `  outside the heap  ${bytes(mem.outside_heap)}`,
    `  total (peak RSS)  ${bytes(mem.total)}`,
    `  largest tensor    ${formatBytes(mem.largest_tensor).padStart(10)}  (${mem.largest_tensor_name})`,
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
    .option('--gradient-checkpointing', 'estimate with activation checkpointing per decoder layer');
  addQuantizeOptions(
    command,
    "the base storage the memory estimate assumes (default: the folder's own format)",
    null,
  );
  command.option('--json', 'print one JSON object (snake_case fields, including trainable_params)');
  command.action(async (model: string, opts: PlanCliOptions & Record<string, unknown>) => {
    let source: { adapterConfig: string } | { method: string; methodOptions: Record<string, unknown> };
    if (opts.adapterConfig) {
      if (methodFlagsGiven(command).length > 0)
        command.error('error: --adapter-config gives the whole adapter config; drop the method options');
      source = { adapterConfig: opts.adapterConfig };
    } else {
      const { method, options } = methodOptionsFrom(command, opts);
      source = { method, methodOptions: options };
    }
    const quantize = opts.quantize === undefined ? {} : quantizeOptionsFrom(command, opts);
    const { config_file: file, ...report } = await plan({
      model,
      ...source,
      batchSize: opts.batchSize,
      ...(opts.seqLen === undefined ? {} : { seqLen: opts.seqLen }),
      gradientCheckpointing: opts.gradientCheckpointing === true,
      ...quantize,
    });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatPlan(report, file));
  });
}
