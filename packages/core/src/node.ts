// Node-only entry point (`@peft/core/node`): file I/O that the browser-safe main entry cannot hold.

// Safe outputs (section owned by fs/*): typed file-system errors, outputs that never overwrite their
// inputs, atomic folder writes, and cleanup after killed writers.
export {
  type FileSystemErrorOptions,
  isFileSystemSituation,
  toFileSystemError,
  withFileSystemErrors,
} from './fs/errno.js';
export { FileSystemError, OutputExistsError, OutputOverlapsInputError } from './fs/errors.js';
export { assertOutputOutsideInputs, resolveFuturePath } from './fs/output-guard.js';
export {
  type OwnedEntry,
  type OwnedEntryKind,
  ownedEntryName,
  parseOwnedEntryName,
} from './fs/owned-names.js';
export { removeStaleWrites, type StaleWriteOptions, type StaleWriteReport } from './fs/stale-writes.js';
export { type WriteFolderOptions, writeFolderAtomically } from './fs/write-folder-atomic.js';
export {
  type CheckpointSource,
  type OpenCheckpointOptions,
  openCheckpoint,
} from './safetensors/node/checkpoint.js';
export { openSafetensorsFile } from './safetensors/node/file.js';
export { writeSafetensorsFile } from './safetensors/node/write-file.js';
export { type AtomicWriteData, writeFileAtomic } from './safetensors/node/write-file-atomic.js';
