import { demoAssetUrls } from './assets/demo-urls.js';
import { tfjsWasmUrls } from './assets/tfjs-wasm-urls.js';
import { offerDownload, zipAdapterFiles } from './download.js';
import { DEFAULT_OPTIONS, OPTION_NAMES, optionsToParams, parseOptions, type RunOptions } from './options.js';
import type { RunSource, StartMessage, WorkerMessage } from './protocol.js';
import { RunView } from './ui/view.js';

const form = document.querySelector<HTMLFormElement>('#options')!;
const stopButton = document.querySelector<HTMLButtonElement>('#stop')!;
const startButton = document.querySelector<HTMLButtonElement>('#start')!;
const downloadButton = document.querySelector<HTMLButtonElement>('#download')!;
const view = new RunView(document);

let worker: Worker | null = null;
let adapterFiles: [string, Uint8Array][] | null = null;
let adapterName = 'adapter.zip';

const fileInput = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
const sourceSelect = form.elements.namedItem('source') as HTMLSelectElement;

/** A chosen file under the name a directory picker gives it ("folder/config.json"), else its own. */
const named = (file: File) => ({ name: file.webkitRelativePath || file.name, blob: file });

/** Choosing any of the user's files switches the run to them. */
for (const name of ['modelFolder', 'modelFiles', 'trainFile', 'evalFile'])
  fileInput(name).addEventListener('change', () => {
    sourceSelect.value = 'files';
  });

/** What to fine-tune: the demo, or the chosen folder (the directory picker's files, else the multiple select) and data. */
function readSource(): RunSource {
  if (sourceSelect.value !== 'files') return { kind: 'demo', assets: demoAssetUrls(document.baseURI) };
  const folder = [...(fileInput('modelFolder').files ?? [])];
  const model = (folder.length > 0 ? folder : [...(fileInput('modelFiles').files ?? [])]).map(named);
  const train = fileInput('trainFile').files?.[0];
  const evalFile = fileInput('evalFile').files?.[0];
  if (model.length === 0)
    throw new Error('choose your model folder (or its files: config.json, *.safetensors, tokenizer.json)');
  if (!train) throw new Error('choose a training data file (JSONL)');
  return { kind: 'files', model, train: named(train), eval: evalFile ? named(evalFile) : null };
}

function fillForm(options: RunOptions): void {
  for (const key of Object.keys(OPTION_NAMES) as (keyof RunOptions)[]) {
    const field = form.elements.namedItem(OPTION_NAMES[key]) as HTMLInputElement | HTMLSelectElement | null;
    if (field) field.value = String(options[key]);
  }
}

function readForm(): RunOptions {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (typeof value === 'string') params.set(name, value);
  return parseOptions(params);
}

function setRunning(running: boolean): void {
  startButton.disabled = running;
  stopButton.disabled = !running;
  for (const field of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select'))
    field.disabled = running;
}

function finish(): void {
  worker?.terminate();
  worker = null;
  view.stopTicker();
  setRunning(false);
}

function onMessage(message: WorkerMessage): void {
  view.apply(message);
  if (message.type === 'done') {
    adapterFiles = message.files;
    downloadButton.disabled = false;
    finish();
  } else if (message.type === 'error') {
    finish();
  }
}

function start(options: RunOptions, source: RunSource): void {
  finish();
  adapterFiles = null;
  adapterName = `${options.method}-adapter.zip`;
  downloadButton.disabled = true;
  view.reset(options.steps);
  view.phase('Starting the worker');
  const query = optionsToParams(options).toString();
  history.replaceState(null, '', query ? `?${query}` : location.pathname);
  // A fresh worker per run: terminating it is how Stop frees every tensor and GPU buffer at once.
  worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (event: MessageEvent<WorkerMessage>) => onMessage(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    onMessage({
      type: 'error',
      message: `the worker failed: ${event.message || 'unknown error'}`,
      code: null,
    });
  };
  const message: StartMessage = { type: 'start', options, source, wasmPaths: tfjsWasmUrls(document.baseURI) };
  worker.postMessage(message);
  setRunning(true);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  try {
    start(readForm(), readSource());
  } catch (error) {
    view.showError(error instanceof Error ? error.message : String(error));
  }
});

stopButton.addEventListener('click', () => {
  finish();
  view.phase('Stopped.');
});

downloadButton.addEventListener('click', () => {
  if (adapterFiles) offerDownload(zipAdapterFiles(adapterFiles), adapterName);
});

try {
  fillForm(parseOptions(new URLSearchParams(location.search)));
} catch (error) {
  fillForm(DEFAULT_OPTIONS);
  view.showError(`${error instanceof Error ? error.message : String(error)} (using the defaults)`);
}
