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

  constructor(private readonly root: ParentNode) {}

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
  }

  phase(text: string): void {
    this.el('phase').textContent = text;
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
      case 'model':
        this.el('model').textContent =
          `Llama, ${message.layers} layers, hidden ${message.hiddenSize}, vocabulary ${message.vocabSize}; ` +
          `${message.quantizedLinears} linear layers in NF4: ${formatBytes(message.denseBytes)} -> ${formatBytes(message.quantizedBytes)}`;
        break;
      case 'parameters':
        this.el('parameters').textContent =
          `${withThousands(message.trainable)} of ${withThousands(message.all)} (${message.summary})`;
        break;
      case 'eval': {
        const element = this.el(`eval-${message.when}`);
        element.textContent = `${formatLoss(message.loss)} on ${message.rows} rows`;
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
        break;
      case 'error':
        this.showError(message.code ? `${message.code}: ${message.message}` : message.message);
        this.phase('Failed.');
        break;
    }
  }

  private addStep(step: Extract<WorkerMessage, { type: 'step' }>): void {
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
        cell(`${item.word}:`),
        cell(item.expected),
        cell(item.output, item.output === item.expected ? 'match' : undefined),
        cell(later ?? '…', later === item.expected ? 'match' : undefined),
      );
      return row;
    });
    this.el('generations').replaceChildren(...rows);
  }
}
