import type { Command } from 'commander';
import type { QuantizeChoice } from '../finetune/base-model.js';
import { type BackendOptions, startBackend } from '../finetune/cli/backend.js';
import {
  addBackendOption,
  addQuantizeOptions,
  intArg,
  quantizeOptionsFrom,
} from '../finetune/cli/options.js';
import { note, warningsToStderr } from '../finetune/cli/output.js';
import { evaluateFolder } from '../finetune/evaluate-folder.js';

export function registerEvalCommand(program: Command): void {
  const command = program
    .command('eval')
    .description(
      'Mean token loss and perplexity of a model (with an adapter, if given) over a JSONL file: the sum of ' +
        'every predicted token’s loss divided by their number',
    )
    .argument('<model-dir>', 'Hugging Face model folder')
    .requiredOption('--data <file.jsonl>', 'JSONL rows of {"text": ...} or {"input_ids": [...]}')
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
        quantize: QuantizeChoice;
        blocksize: number;
        doubleQuant: boolean;
        json?: boolean;
      } & BackendOptions,
    ) => {
      const restore = warningsToStderr();
      try {
        await startBackend(opts, note);
        const result = await evaluateFolder(modelDir, {
          data: opts.data,
          ...(opts.adapter ? { adapter: opts.adapter } : {}),
          batchSize: opts.batchSize,
          ...(opts.seqLen === undefined ? {} : { seqLen: opts.seqLen }),
          ...quantizeOptionsFrom(opts),
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
