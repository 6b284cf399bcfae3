import { optionFlag } from '@peft/core';
import { DEFAULT_REPORTING, type ScheduleKind } from '@peft/training';
import { type FinetuneOptions, type FinetuneSummary, finetune } from '@peft/training/node';
import { type Command, Option } from 'commander';
import { type BackendOptions, startBackend } from '../cli/backend.js';
import {
  addBackendOption,
  addMethodOptions,
  addQuantizeOptions,
  intArg,
  methodFlagsGiven,
  methodOptionsFrom,
  numberArg,
  positiveNumber,
  quantizeOptionsFrom,
} from '../cli/options.js';
import { formatBytes, formatDuration, note, progressReporter, warningsToStderr } from '../cli/output.js';
import { applyRunConfig, givenByUser } from '../cli/run-config.js';
import { CommandExit, EXIT } from '../exit-codes.js';

interface FinetuneCliOptions extends BackendOptions {
  data: string;
  evalData?: string;
  output: string;
  adapterConfig?: string;
  adapter?: string;
  steps?: number;
  lr?: number;
  batchSize?: number;
  gradAccumSteps?: number;
  seqLen?: number;
  seed?: number;
  schedule?: ScheduleKind;
  warmupSteps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  evalEvery: number;
  saveEvery: number;
  keepCheckpoints: number;
  resume?: boolean;
  overwrite?: boolean;
  gradientCheckpointing?: boolean;
  assistantOnlyLoss?: boolean;
  json?: boolean;
}

/** The new adapter's method options, or the config file or folder to start from; the three exclude each other. */
function adapterSource(
  command: Command,
  opts: FinetuneCliOptions & Record<string, unknown>,
): Partial<Pick<FinetuneOptions, 'method' | 'methodOptions' | 'adapterConfig' | 'adapter'>> {
  const given = opts.adapterConfig ?? opts.adapter;
  if (!given) {
    const { method, options } = methodOptionsFrom(command, opts);
    return { method, methodOptions: options };
  }
  const flag = opts.adapterConfig ? '--adapter-config' : '--adapter';
  if (opts.adapterConfig && opts.adapter)
    command.error('error: give --adapter or --adapter-config, not both');
  const clashes = methodFlagsGiven(command);
  if (clashes.length > 0 || givenByUser(command, 'method')) {
    const flags = [
      ...(givenByUser(command, 'method') ? ['--method'] : []),
      ...clashes.map((k) => optionFlag({ name: k })),
    ];
    command.error(`error: ${flag} gives the whole adapter config; drop ${flags.join(', ')}`);
  }
  return opts.adapterConfig ? { adapterConfig: opts.adapterConfig } : { adapter: given };
}

function summary(result: FinetuneSummary, seconds: number): string {
  const lines = [
    `trained ${result.step}/${result.totalSteps} steps in ${formatDuration(seconds)}` +
      (result.lastLoss === null ? '' : `; last training loss ${result.lastLoss.toFixed(4)}`),
  ];
  if (result.eval) {
    lines.push(
      `eval loss ${result.eval.loss.toFixed(4)}, perplexity ${result.eval.perplexity.toFixed(3)} (${result.eval.tokens} tokens)`,
    );
  }
  if (result.test) {
    lines.push(
      `test loss ${result.test.loss.toFixed(4)}, perplexity ${result.test.perplexity.toFixed(3)} (${result.test.tokens} tokens)`,
    );
  }
  if (result.adapterDir) lines.push(`adapter written to ${result.adapterDir} (PEFT format)`);
  if (result.checkpointDir) lines.push(`checkpoint: ${result.checkpointDir}`);
  lines.push(
    `memory: peak RSS ${formatBytes(result.peakRssBytes)}, TensorFlow.js peak ${formatBytes(result.peakTfBytes)}` +
      (result.wasmHeapBytes > 0 ? `, wasm heap ${formatBytes(result.wasmHeapBytes)}` : ''),
  );
  return `${lines.join('\n')}\n`;
}

export function registerFinetuneCommand(program: Command): void {
  const command = program
    .command('finetune')
    .description(
      'Fine-tune a PEFT adapter (VeRA or LoRA) on a Hugging Face model folder, dense or bitsandbytes 4-bit, ' +
        'with progress, evaluation, atomic checkpoints and exact resume',
    )
    .argument('<model-dir>', 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)')
    .option(
      '--config <run.yaml|run.json>',
      'read flags from a YAML or JSON file (keys: the long flag names, kebab- or camelCase); flags on the command line override it',
    )
    // --data and --output are required, but may come from --config: checked once the file is read.
    .option(
      '--data <train.jsonl|dir>',
      'training data: JSONL rows of {"text": ...}, {"prompt": ..., "completion": ...} (loss on the completion only), ' +
        '{"messages": [{"role": ..., "content": ...}, ...]} (rendered with the model\'s chat template; loss on the assistant turns) ' +
        'or {"input_ids": [...], "labels": [...]} (labels optional, -100: no loss); or a folder holding train.jsonl ' +
        'and optionally valid.jsonl (the --eval-data when that is not given)',
    )
    .option('--eval-data <file.jsonl>', 'held-out data, evaluated every --eval-every steps and at the end')
    .option(
      '--no-assistant-only-loss',
      'chat {"messages"} rows: learn every token of the conversation, not only the assistant turns (each reply and its end-of-turn token)',
    )
    .option(
      '-o, --output <adapter-dir>',
      'where checkpoints (checkpoint-<step>/) and the final adapter (adapter_config.json + adapter_model.safetensors) go',
    )
    .option(
      '--adapter-config <file>',
      'take the new adapter from a PEFT adapter_config.json instead of the method options',
    )
    .option(
      '--adapter <dir>',
      'train a saved PEFT adapter folder further (its config and weights; e.g. from init-adapter or Python)',
    );
  addMethodOptions(command);
  addQuantizeOptions(command, 'as QLoRA does');
  command
    .option('--steps <n>', 'optimizer steps (default 100)', intArg(1))
    .option(
      '--lr <rate>',
      "peak learning rate (default: the method's, e.g. 1e-2 for VeRA, 2e-4 for LoRA)",
      positiveNumber,
    )
    .option('--batch-size <n>', 'sequences per forward and backward pass (default 8)', intArg(1))
    .option(
      '--grad-accum-steps <n>',
      'sum the gradients of N batches into each optimizer step: a step sees batch-size x N sequences with the memory of batch-size (default 1)',
      intArg(1),
    )
    .option(
      '--seq-len <n>',
      "examples are cut to this many tokens (default min(512, the model's max positions))",
      intArg(2),
    )
    .option('--seed <n>', 'seeds the data order, the adapter init and dropout (default 0)', intArg(0))
    .addOption(
      new Option('--schedule <kind>', 'learning-rate decay after warm-up (default cosine)').choices([
        'constant',
        'linear',
        'cosine',
      ]),
    )
    .option('--warmup-steps <n>', 'linear warm-up steps (default 0)', intArg(0))
    .option(
      '--weight-decay <w>',
      'AdamW decoupled weight decay (default 0)',
      numberArg((n) => n >= 0, 'a number >= 0'),
    )
    .option(
      '--max-grad-norm <n>',
      'clip the global gradient norm (0: off; default 1)',
      numberArg((n) => n >= 0, 'a number >= 0'),
    )
    .option(
      '--eval-every <n>',
      'evaluate every N steps (0: at the end only)',
      intArg(0),
      DEFAULT_REPORTING.evalEvery,
    )
    .option(
      '--save-every <n>',
      'write a checkpoint every N steps (0: at the end only)',
      intArg(0),
      DEFAULT_REPORTING.saveEvery,
    )
    .option(
      '--keep-checkpoints <n>',
      'keep the newest N checkpoints (0: all)',
      intArg(0),
      DEFAULT_REPORTING.keepCheckpoints,
    )
    .option(
      '--resume',
      'continue the run in --output from its newest checkpoint (same options, model and data)',
    )
    .option('--overwrite', 'start over in an --output that already holds a run')
    .option(
      '--gradient-checkpointing',
      "keep only each decoder layer's input and recompute the layer in the backward pass: a fraction of the activation memory for about a third more compute; same gradients",
    )
    .option('--json', 'print the result as one JSON object on stdout');
  addBackendOption(command);
  command.addHelpText(
    'after',
    '\nCtrl-C stops after the current step and writes a checkpoint (exit code 130); --resume continues it\n' +
      'and ends with exactly the adapter an uninterrupted run gives.\n\n' +
      'Example --config run.yaml (command-line flags override it):\n' +
      '  data: data/train.jsonl\n' +
      '  output: out/adapter\n' +
      '  method: lora\n' +
      '  r: 8\n' +
      '  steps: 200\n' +
      '  lr: 2e-4\n' +
      '  batch-size: 4\n' +
      '  grad-accum-steps: 4',
  );
  command.action(async (modelDir: string) => {
    const opts = await applyRunConfig<FinetuneCliOptions & Record<string, unknown>>(command);
    for (const required of ['data', 'output'] as const) {
      if (opts[required] === undefined) {
        const flags = command.options.find((o) => o.attributeName() === required)!.flags;
        command.error(`error: required option '${flags}' not specified`, {
          code: 'commander.missingMandatoryOptionValue',
        });
      }
    }
    const source = adapterSource(command, opts);
    const quantize = quantizeOptionsFrom(command, opts);
    const restoreWarnings = warningsToStderr();
    await startBackend(opts, note);
    const controller = new AbortController();
    const onSigint = () => {
      if (controller.signal.aborted) process.exit(EXIT.interrupted);
      controller.abort();
      note('\nstopping after this step to write a checkpoint (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    const reporter = progressReporter();
    const started = Date.now();
    let result: FinetuneSummary;
    try {
      result = await finetune({
        model: modelDir,
        data: opts.data,
        ...(opts.evalData ? { evalData: opts.evalData } : {}),
        output: opts.output,
        ...source,
        ...quantize,
        ...(opts.steps === undefined ? {} : { steps: opts.steps }),
        ...(opts.lr === undefined ? {} : { learningRate: opts.lr }),
        ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize }),
        ...(opts.gradAccumSteps === undefined ? {} : { gradAccumSteps: opts.gradAccumSteps }),
        ...(opts.seqLen === undefined ? {} : { seqLen: opts.seqLen }),
        ...(opts.seed === undefined ? {} : { seed: opts.seed }),
        ...(opts.schedule === undefined ? {} : { schedule: opts.schedule }),
        ...(opts.warmupSteps === undefined ? {} : { warmupSteps: opts.warmupSteps }),
        ...(opts.weightDecay === undefined ? {} : { weightDecay: opts.weightDecay }),
        ...(opts.maxGradNorm === undefined ? {} : { maxGradNorm: opts.maxGradNorm }),
        evalEvery: opts.evalEvery,
        saveEvery: opts.saveEvery,
        keepCheckpoints: opts.keepCheckpoints,
        resume: opts.resume ?? false,
        overwrite: opts.overwrite ?? false,
        gradientCheckpointing: opts.gradientCheckpointing ?? false,
        assistantOnlyLoss: opts.assistantOnlyLoss ?? true,
        signal: controller.signal,
        callbacks: reporter,
      });
    } finally {
      reporter.stop();
      process.off('SIGINT', onSigint);
      restoreWarnings();
    }
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : summary(result, seconds));
    if (!result.completed) {
      note(`stopped at step ${result.step}; continue with the same command and --resume`);
      throw new CommandExit(EXIT.interrupted);
    }
  });
}
