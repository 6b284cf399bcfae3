import { PeftError } from '../errors.js';

/**
 * An ordinary file-system situation (disk full, read-only, permission denied, a file where a folder
 * is expected, ...) met while reading or writing `path`. `systemCode` is Node's errno name
 * (`ENOSPC`, `EROFS`, `EACCES`, ...); the original error is the `cause`.
 */
export class FileSystemError extends PeftError {
  readonly systemCode: string;
  readonly path: string | undefined;

  constructor(systemCode: string, path: string | undefined, message: string, options?: { cause?: unknown }) {
    super('FILE_SYSTEM', message, options);
    this.systemCode = systemCode;
    this.path = path;
  }
}

/** A write would land on, inside, or around one of the files it reads from. */
export class OutputOverlapsInputError extends PeftError {
  readonly output: string;
  readonly input: string;

  constructor(output: string, input: string, detail: string) {
    super('OUTPUT_OVERLAPS_INPUT', detail);
    this.output = output;
    this.input = input;
  }
}

/** An existing output folder holds entries the writer was not allowed to discard. */
export class OutputExistsError extends PeftError {
  readonly path: string;
  /** The entries that block replacing the folder (at most a few are named in the message). */
  readonly entries: readonly string[];

  constructor(path: string, entries: readonly string[], advice: string) {
    const shown =
      entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, ... (${entries.length} in all)` : '');
    super('OUTPUT_EXISTS', `output folder ${path} already holds ${shown}; ${advice}`);
    this.path = path;
    this.entries = entries;
  }
}
