// What the fine-tuning commands print: warnings, training progress and sizes. stdout carries results;
// progress, warnings and notes go to stderr, so `peft eval --json > out.json` stays clean.
import { setWarningHandler } from '@peft/adapter-bridge';
import type { FinetuneCallbacks, FinetuneStart, FinetuneStepProgress } from '@peft/training/node';
import { SingleBar } from 'cli-progress';

export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/**
 * Sends the bridge's warnings (lossy merge, unknown config fields, ...) to stderr, each distinct one
 * once (a merge warns per layer); returns the undo.
 */
export function warningsToStderr(): () => void {
  const seen = new Set<string>();
  const previous = setWarningHandler((w) => {
    if (seen.has(w.message)) return;
    seen.add(w.message);
    process.stderr.write(`warning: ${w.message}\n`);
  });
  return () => {
    setWarningHandler(previous);
  };
}

/** 75 -> "1m15s", 7300 -> "2h01m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${bytes} B`
    : `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

/** 1234567 -> "1,234,567". */
export function withThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function stepLine(p: FinetuneStepProgress): string {
  return (
    `step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(4)}  lr ${p.learningRate.toExponential(2)}  ` +
    `${p.tokensPerSecond.toFixed(0)} tok/s  ETA ${formatDuration(p.etaSeconds)}  ` +
    `peak RSS ${formatBytes(p.peakRssBytes)}  tfjs ${formatBytes(p.tfBytes)}`
  );
}

/**
 * Training progress on stderr: a progress bar (loss, tokens/s, ETA) when stderr is a terminal, else a
 * plain line about every 5% of the run, so logs and CI output stay readable.
 */
export function progressReporter(): FinetuneCallbacks & { stop(): void } {
  let bar: SingleBar | null = null;
  let every = 1;
  const startBar = (total: number, value: number, payload = { loss: '-', tps: '-', left: '?', rss: '-' }) => {
    bar = new SingleBar({
      stream: process.stderr,
      // Not {eta}: cli-progress computes its own under that name; ours is from this run's step times.
      format: 'finetune [{bar}] {value}/{total} | loss {loss} | {tps} tok/s | ETA {left} | peak RSS {rss}',
      hideCursor: true,
      clearOnComplete: true,
    });
    bar.start(total, value, payload);
  };
  const stop = () => {
    bar?.stop();
    bar = null;
  };
  const above = (text: string) => {
    // cli-progress redraws its line; a message printed under it would be overwritten.
    stop();
    note(text);
  };
  return {
    onStart(info: FinetuneStart) {
      const schemes = Object.entries(info.schemes)
        .map(([scheme, n]) => `${n} ${scheme}`)
        .join(', ');
      note(`linear layers: ${schemes}`);
      note(info.parameterSummary);
      note(
        info.resumedFrom
          ? `resuming from ${info.resumedFrom} (step ${info.startStep} of ${info.totalSteps})`
          : `training ${info.totalSteps} steps on ${info.trainExamples} examples` +
              (info.evalExamples ? ` (eval: ${info.evalExamples} examples)` : ''),
      );
      every = Math.max(1, Math.round(info.totalSteps / 20));
      if (process.stderr.isTTY && info.startStep < info.totalSteps) startBar(info.totalSteps, info.startStep);
    },
    onStep(p: FinetuneStepProgress) {
      const payload = {
        loss: p.loss.toFixed(4),
        tps: p.tokensPerSecond.toFixed(0),
        left: formatDuration(p.etaSeconds),
        rss: formatBytes(p.peakRssBytes),
      };
      if (bar) bar.update(p.step, payload);
      // After a message stopped the bar, the next step draws a new one below it.
      else if (process.stderr.isTTY) {
        if (p.step < p.totalSteps) startBar(p.totalSteps, p.step, payload);
      } else if (p.step % every === 0 || p.step === p.totalSteps) note(stepLine(p));
    },
    onEval(step, result) {
      above(
        `eval at step ${step}: loss ${result.loss.toFixed(4)}, perplexity ${result.perplexity.toFixed(3)} ` +
          `(${result.tokens} tokens)`,
      );
    },
    onCheckpoint(step, dir) {
      above(`checkpoint at step ${step}: ${dir}`);
    },
    stop,
  };
}
