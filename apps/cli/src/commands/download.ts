import { join } from 'node:path';
import { DEFAULT_DOWNLOAD_INCLUDE, type DownloadProgress, downloadModelFolder } from '@peft/models/node';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { formatBytes, note } from '../cli/output.js';

interface DownloadCliOptions {
  output?: string;
  revision: string;
  include?: string[];
  json?: boolean;
}

/** `HuggingFaceTB/SmolLM2-135M` -> `models/SmolLM2-135M`, as `huggingface-cli download --local-dir` is used. */
export function defaultDownloadDir(repo: string): string {
  return join('models', repo.split('/').at(-1) ?? repo);
}

/**
 * Progress on stderr: a byte bar when stderr is a terminal, else one line per file, so logs stay readable.
 */
function downloadProgress(): { onProgress(p: DownloadProgress): void; stop(): void } {
  let bar: SingleBar | undefined;
  const lineFor = (p: DownloadProgress) =>
    `[${p.fileIndex + 1}/${p.fileCount}] ${p.file} ${formatBytes(p.fileBytes)}${p.status === 'skipped' ? ' (already complete)' : ''}`;
  if (!process.stderr.isTTY) {
    return {
      onProgress: (p) => {
        if (p.status !== 'downloading') note(lineFor(p));
      },
      stop: () => undefined,
    };
  }
  return {
    onProgress: (p) => {
      const payload = { file: p.file, done: formatBytes(p.bytesDone), all: formatBytes(p.totalBytes) };
      if (!bar) {
        bar = new SingleBar({
          stream: process.stderr,
          format: 'download [{bar}] {done}/{all} | file {value}/{total} {file}',
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(p.fileCount, 0, payload);
      }
      bar.update(p.fileIndex + (p.status === 'downloading' ? 0 : 1), payload);
    },
    stop: () => bar?.stop(),
  };
}

export function registerDownloadCommand(program: Command): void {
  program
    .command('download')
    .description(
      'Download a Hugging Face model repository into a folder the other commands load: configs, tokenizer and ' +
        'safetensors weights (no Python needed); files already complete are kept, so running it again resumes',
    )
    .argument('<repo>', 'model id on the Hub, e.g. HuggingFaceTB/SmolLM2-135M')
    .option('-o, --output <dir>', 'folder to write into (default: models/<name>)')
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option(
      '--include <glob...>',
      `only repository paths matching these globs (* stays within a folder, ** crosses folders; default: ${DEFAULT_DOWNLOAD_INCLUDE.join(' ')})`,
    )
    .option('--json', 'print one JSON object: repo, revision, dir, files, downloadedBytes, skippedBytes')
    .addHelpText(
      'after',
      '\nPrivate and gated repositories need an access token in HF_TOKEN; HF_ENDPOINT points at another hub (a mirror).',
    )
    .action(async (repo: string, opts: DownloadCliOptions) => {
      const dir = opts.output ?? defaultDownloadDir(repo);
      const progress = downloadProgress();
      let report: Awaited<ReturnType<typeof downloadModelFolder>>;
      try {
        report = await downloadModelFolder({
          repo,
          dir,
          revision: opts.revision,
          ...(opts.include === undefined ? {} : { include: opts.include }),
          onProgress: progress.onProgress,
        });
      } finally {
        progress.stop();
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
        return;
      }
      const downloaded = report.files.filter((file) => file.status === 'downloaded').length;
      note(
        `${downloaded} file(s) downloaded (${formatBytes(report.downloadedBytes)}), ` +
          `${report.files.length - downloaded} already complete (${formatBytes(report.skippedBytes)})`,
      );
      process.stdout.write(`written: ${dir}\n`);
    });
}
