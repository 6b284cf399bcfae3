// The training worker: everything heavy runs here, so the page stays responsive while TensorFlow.js works
// (WebGPU and the wasm backend both run in a dedicated worker in Chromium).
import { loadDemoAssets } from './assets/load-demo.js';
import { loadOwnFiles } from './assets/load-own.js';
import { activate, planBackends } from './finetune/backends.js';
import { fineTune, fineTuneOwn } from './finetune/run.js';
import type { StartMessage, WorkerMessage } from './protocol.js';

interface WorkerScope {
  onmessage: ((event: MessageEvent<StartMessage>) => void) | null;
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
const post = (message: WorkerMessage, transfer: Transferable[] = []) => scope.postMessage(message, transfer);

/** A copy that owns its whole buffer, so transferring it moves exactly these bytes and nothing shared. */
const ownBuffer = (bytes: Uint8Array): Uint8Array =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();

async function run({ options, source, wasmPaths }: StartMessage): Promise<void> {
  const started = performance.now();
  post({ type: 'phase', text: `Setting up the ${options.backend} backend` });
  const backends = await planBackends(options.backend, { wasmPaths });
  post({ type: 'backend', backend: backends.compute, reason: backends.reason });
  await activate(backends.host);
  const files =
    source.kind === 'demo'
      ? await fineTune(await loadDemoAssets(source.assets, fetch, post), options, post, backends)
      : await fineTuneOwn(await loadOwnFiles(source, options.quantize, post), options, post, backends);
  const entries = [...files].map(([name, bytes]): [string, Uint8Array] => [name, ownBuffer(bytes)]);
  post(
    { type: 'done', files: entries, seconds: (performance.now() - started) / 1000 },
    entries.map(([, bytes]) => bytes.buffer),
  );
}

scope.onmessage = (event) => {
  if (event.data.type !== 'start') return;
  run(event.data).catch((error: unknown) => {
    const code =
      typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : null;
    post({ type: 'error', message: error instanceof Error ? error.message : String(error), code });
  });
};
