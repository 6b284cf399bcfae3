import { evaluateFolder } from '@peft/training/node';
import type { Command } from 'commander';
import { type BackendOptions, startBackend } from '../cli/backend.js';
import { addBackendOption, addQuantizeOptions, intArg, quantizeOptionsFrom } from '../cli/options.js';
import { note, warningsToStderr } from '../cli/output.js';

export function registerEvalCommand(program: Command): void {
  const command = program
    .command('eval')
    .description(
      'Mean token loss and perplexity of a model (with an adapter, if given) over a JSONL file: the sum of ' +
        'every predicted token’s loss divided by their number',
    )
    .argument('<model-dir>', 'Hugging Face model folder')
    .requiredOption(
      '--data <file.jsonl>',
      'JSONL rows of {"text": ...}, {"prompt": ..., "completion": ...}, {"messages": [...]} (rendered with the model\'s chat template) or {"input_ids": [...], "labels"?: [...]}; the loss is taken where fine-tuning takes it',
    )
    .option(
      '--no-assistant-only-loss',
      'chat {"messages"} rows: count every token of the conversation, not only the assistant turns',
    )
    .option('--adapter <dir>', 'a PEFT adapter folder to apply')
    .option('--batch-size <n>', 'sequences per forward pass', intArg(1), 8)
    .option(
      '--seq-len <n>',
      "examples are cut to this many tokens (default: the model's max positions)",
      intArg(2),
    );
  addQuantizeOptions(command, 'to evaluate as a 4-bit fine-tuning run saw the model');
  command.option('--json', 'print one JSON object: loss, perplexity, tokens, examples');
  addBackendOption(command);
  command.action(
    async (
      modelDir: string,
      opts: {
        data: string;
        adapter?: string;
        batchSize: number;
        seqLen?: number;
        assistantOnlyLoss?: boolean;
        json?: boolean;
      } & BackendOptions &
        Record<string, unknown>,
    ) => {
      const quantize = quantizeOptionsFrom(command, opts);
      const restore = warningsToStderr();
      try {
        await startBackend(opts, note);
        const result = await evaluateFolder({
          model: modelDir,
          data: opts.data,
          ...(opts.adapter ? { adapter: opts.adapter } : {}),
          batchSize: opts.batchSize,
          ...(opts.seqLen === undefined ? {} : { seqLen: opts.seqLen }),
          assistantOnlyLoss: opts.assistantOnlyLoss ?? true,
          ...quantize,
        });
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(result)}\n`
            : `loss ${result.loss.toFixed(6)}  perplexity ${result.perplexity.toFixed(4)}  ` +
                `(${result.tokens} predicted tokens in ${result.examples} examples)\n`,
        );
      } finally {
        restore();
      }
    },
  );
}
