import type { Generation } from '../finetune/generations.js';
import type { WorkerMessage } from '../protocol.js';
import { formatBytes, formatLoss, withThousands } from './format.js';
import { type LossPoint, renderLossChart } from './loss-chart.js';

function byTestId<T extends Element = HTMLElement>(root: ParentNode, id: string): T {
  const element = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!element) throw new Error(`the page has no element with data-testid="${id}"`);
  return element;
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** Everything the page shows about a run; fed the worker's messages in order. */
export class RunView {
  private readonly points: LossPoint[] = [];
  private totalSteps = 1;
  private before: Generation[] = [];
  private phaseStarted = 0;
  private ticker: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly root: ParentNode) {}

  /**
   * Counts the seconds the current phase has run, once a second while a run is on: a phase with no
   * finer progress (a first WebGPU step compiling its shaders, one long generation) still visibly moves.
   */
  private startTicker(): void {
    this.stopTicker();
    this.ticker = setInterval(() => this.showElapsed(), 1000);
  }

  stopTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
  }

  private showElapsed(): void {
    const seconds = Math.floor((performance.now() - this.phaseStarted) / 1000);
    this.el('elapsed').textContent = seconds > 0 ? `${seconds} s` : '';
  }

  /** `done` of `total` of the current phase, on a progress bar and in words. */
  progress(done: number, total: number, unit: string): void {
    const bar = this.el<HTMLProgressElement>('progress');
    bar.hidden = false;
    bar.max = Math.max(1, total);
    bar.value = Math.min(done, total);
    this.el('progress-text').textContent = `${done}/${total} ${unit}`;
  }

  private el<T extends Element = HTMLElement>(id: string): T {
    return byTestId<T>(this.root, id);
  }

  reset(totalSteps: number): void {
    this.points.length = 0;
    this.totalSteps = totalSteps;
    this.before = [];
    for (const id of ['backend', 'model', 'parameters', 'eval-before', 'eval-after', 'time', 'last-step']) {
      this.el(id).textContent = '–';
      delete this.el(id).dataset['value'];
    }
    this.el('backend-reason').textContent = '';
    this.el('step-log').replaceChildren();
    this.el('generations').replaceChildren();
    this.showError(null);
    renderLossChart(this.el<SVGSVGElement>('loss-chart'), this.points, totalSteps);
    this.startTicker();
  }

  /** A new phase: its name, its progress cleared, its clock restarted. */
  phase(text: string): void {
    this.el('phase').textContent = text;
    this.el<HTMLProgressElement>('progress').hidden = true;
    this.el('progress-text').textContent = '';
    this.phaseStarted = performance.now();
    this.showElapsed();
  }

  showError(message: string | null): void {
    const error = this.el('error');
    error.hidden = message === null;
    error.textContent = message ?? '';
  }

  apply(message: WorkerMessage): void {
    switch (message.type) {
      case 'backend':
        this.el('backend').textContent = message.backend;
        this.el('backend-reason').textContent = message.reason;
        break;
      case 'phase':
        this.phase(message.text);
        break;
      case 'progress':
        this.progress(message.done, message.total, message.unit);
        break;
      case 'model': {
        const schemes = Object.entries(message.schemes)
          .map(([scheme, count]) => `${count} ${scheme}`)
          .join(', ');
        const quantized =
          message.quantizedLinears > 0
            ? `${message.quantizedLinears} linear layers in ${message.quantizer.toUpperCase()}: ${formatBytes(message.denseBytes)} -> ${formatBytes(message.quantizedBytes)}`
            : `nothing quantized (${message.quantizer === 'none' ? 'quantize: none' : 'no dense linear layers'})`;
        this.el('model').textContent =
          `Llama, ${message.layers} layers, hidden ${message.hiddenSize}, vocabulary ${message.vocabSize}; ` +
          `${quantized}; linear layers: ${schemes}`;
        break;
      }
      case 'parameters':
        this.el('parameters').textContent =
          `${withThousands(message.trainable)} of ${withThousands(message.all)} (${message.summary}); method ${message.method}`;
        break;
      case 'eval': {
        const element = this.el(`eval-${message.when}`);
        element.textContent = `${formatLoss(message.loss)} on ${message.rows} rows of ${message.data}`;
        element.dataset['value'] = String(message.loss); // full precision, for scripts
        break;
      }
      case 'generations':
        if (message.when === 'before') this.before = message.items;
        this.renderGenerations(message.when === 'after' ? message.items : null);
        break;
      case 'step':
        this.addStep(message);
        break;
      case 'done':
        this.el('time').textContent = `${message.seconds.toFixed(1)} s`;
        this.phase('Done. The adapter is ready to download.');
        this.stopTicker();
        break;
      case 'error':
        this.showError(message.code ? `${message.code}: ${message.message}` : message.message);
        this.phase('Failed.');
        this.stopTicker();
        break;
    }
  }

  private addStep(step: Extract<WorkerMessage, { type: 'step' }>): void {
    this.progress(step.step, this.totalSteps, 'steps');
    this.points.push({ step: step.step, loss: step.loss });
    renderLossChart(this.el<SVGSVGElement>('loss-chart'), this.points, this.totalSteps);
    this.el('last-step').textContent =
      `step ${step.step}/${this.totalSteps}: loss ${step.loss.toFixed(3)}, ${step.milliseconds.toFixed(0)} ms; ` +
      `TensorFlow.js holds ${formatBytes(step.numBytes)} in ${step.numTensors} tensors`;
    const row = document.createElement('tr');
    row.append(
      cell(String(step.step)),
      cell(step.loss.toFixed(4)),
      cell(step.learningRate.toExponential(2)),
      cell(String(step.numTensors)),
      cell(step.milliseconds.toFixed(0)),
    );
    this.el('step-log').append(row);
  }

  private renderGenerations(after: Generation[] | null): void {
    const rows = this.before.map((item, i) => {
      const later = after?.[i]?.output;
      const row = document.createElement('tr');
      row.append(
        cell(item.prompt),
        cell(item.expected),
        cell(item.output, item.output === item.expected ? 'match' : undefined),
        cell(later ?? '…', later === item.expected ? 'match' : undefined),
      );
      return row;
    });
    this.el('generations').replaceChildren(...rows);
  }
}
