// metrics.jsonl in a run's output folder: one JSON line per step and per evaluation, appended as the run
// goes so a crashed or stopped run keeps what it did, and loss.svg drawn from it when the run completes.
import { appendFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@peft/core/node';
import { lossChartSvg } from '../loss-chart.js';

export const METRICS_FILE_NAME = 'metrics.jsonl';
export const LOSS_CHART_FILE_NAME = 'loss.svg';

export interface StepMetrics {
  readonly step: number;
  readonly loss: number;
  readonly learning_rate: number;
  readonly grad_norm: number;
  readonly tokens_per_second: number;
  readonly peak_rss_bytes: number;
  readonly tf_bytes: number;
}

export interface EvalMetrics {
  readonly step: number;
  readonly eval_loss: number;
  readonly eval_perplexity: number;
}

export type MetricsLine = StepMetrics | EvalMetrics;

function isStepLine(line: MetricsLine): line is StepMetrics {
  return 'loss' in line;
}

/** Parsed lines of an existing file; a line that is not a JSON object with a numeric step (a torn last write) is dropped. */
function parseLines(text: string): MetricsLine[] {
  const lines: MetricsLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    try {
      const value = JSON.parse(raw) as unknown;
      if (
        typeof value === 'object' &&
        value !== null &&
        typeof (value as { step?: unknown }).step === 'number'
      ) {
        lines.push(value as MetricsLine);
      }
    } catch {
      // A line cut short by a killed process: the steps after the resumed checkpoint are run again anyway.
    }
  }
  return lines;
}

export class MetricsLog {
  private constructor(
    private readonly folder: string,
    private readonly lines: MetricsLine[],
  ) {}

  get path(): string {
    return join(this.folder, METRICS_FILE_NAME);
  }

  /**
   * Opens the log of a run in `folder` that continues after `startStep` (0: a new run, which starts an empty
   * file). Lines of later steps (written after the checkpoint being resumed) are dropped, so every step
   * appears once.
   */
  static async open(folder: string, startStep: number): Promise<MetricsLog> {
    const path = join(folder, METRICS_FILE_NAME);
    const previous =
      startStep > 0
        ? await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
            if (error.code === 'ENOENT') return '';
            throw error;
          })
        : '';
    const kept = parseLines(previous).filter((line) => line.step <= startStep);
    await mkdir(folder, { recursive: true });
    await writeFileAtomic(path, kept.map((line) => `${JSON.stringify(line)}\n`).join(''));
    return new MetricsLog(folder, kept);
  }

  /** Appends one line (synchronously: a line is small, and the training callbacks are synchronous). */
  append(line: MetricsLine): void {
    this.lines.push(line);
    appendFileSync(this.path, `${JSON.stringify(line)}\n`);
  }

  /** Writes loss.svg beside the adapter from every line of the run (before and after a resume). */
  async writeChart(): Promise<string> {
    const train = this.lines.filter(isStepLine).map((l) => ({ step: l.step, loss: l.loss }));
    const evals = this.lines
      .filter((l): l is EvalMetrics => !isStepLine(l))
      .map((l) => ({ step: l.step, loss: l.eval_loss }));
    const path = join(this.folder, LOSS_CHART_FILE_NAME);
    await writeFileAtomic(path, lossChartSvg(train, evals, 'training and eval loss per step'));
    return path;
  }
}
