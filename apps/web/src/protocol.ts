import type { BackendName } from '@peft/backends';
import type { DemoAssetUrls } from './assets/load-demo.js';
import type { OwnFiles } from './assets/load-own.js';
import type { RunEvent } from './finetune/events.js';
import type { RunOptions } from './options.js';

/** What a run fine-tunes: the demo's files (served with the page) or the user's own (Blobs, cloned to the worker). */
export type RunSource = { kind: 'demo'; assets: DemoAssetUrls } | ({ kind: 'files' } & OwnFiles);

/** Page -> worker: the one message that starts a run (a worker runs once; the page makes a new one per run). */
export interface StartMessage {
  type: 'start';
  options: RunOptions;
  source: RunSource;
  wasmPaths: Record<string, string>;
}

/** Worker -> page. */
export type WorkerMessage =
  | { type: 'backend'; backend: BackendName; reason: string }
  | RunEvent
  | {
      type: 'done';
      /** The adapter folder: relative path -> bytes (buffers transferred, not copied). */
      files: [string, Uint8Array][];
      seconds: number;
    }
  | { type: 'error'; message: string; code: string | null };
