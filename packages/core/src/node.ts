// Node-only entry point (`@peft/core/node`): file I/O that the browser-safe main entry cannot hold.

export {
  type CheckpointSource,
  type OpenCheckpointOptions,
  openCheckpoint,
} from './safetensors/node/checkpoint.js';
export { openSafetensorsFile } from './safetensors/node/file.js';
export { writeSafetensorsFile } from './safetensors/node/write-file.js';
export { type AtomicWriteData, writeFileAtomic } from './safetensors/node/write-file-atomic.js';
