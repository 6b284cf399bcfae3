// What the commands that write model folders (quantize, dequantize, merge) share on the command line:
// the --overwrite help and a progress bar. The folder logic itself is in @peft/models and @peft/training.
import { SingleBar } from 'cli-progress';

/** Help text of the `--overwrite` flag of the commands that write model folders. */
export const OVERWRITE_HELP =
  'replace an existing output folder even if it holds files that are not part of a model folder (they are deleted)';

/**
 * A tensor progress bar on stderr for a library call's `onProgress`, shown only when stderr is a
 * terminal (never in pipes, logs or tests).
 */
export function progressBar(label: string): { onProgress(done: number, total: number): void; stop(): void } {
  let bar: SingleBar | null = null;
  return {
    onProgress(done, total) {
      if (!process.stderr.isTTY || total === 0) return;
      if (!bar) {
        bar = new SingleBar({
          stream: process.stderr,
          format: `${label} [{bar}] {value}/{total} tensors | {duration_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(total, 0);
      }
      bar.update(done);
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
