import { PeftError } from '@peft/core';

/** An adapter name that cannot be used (it would name a folder outside the adapter folder, or nothing). */
export class AdapterNameError extends PeftError {
  readonly adapterName: string;

  constructor(name: string, detail: string) {
    super('ADAPTER_NAME', `adapter name ${JSON.stringify(name)}: ${detail}`);
    this.adapterName = name;
  }
}

/**
 * Adapter names become folder names when saved (PEFT writes a non-default adapter to `<dir>/<name>/`)
 * and module names in the tree, so anything that could escape the folder or break a dotted path is
 * refused: empty, ".", "..", separators, absolute or drive paths, control characters, ".".
 */
export function assertValidAdapterName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new AdapterNameError(String(name), 'must be a string');
  if (name.trim() === '') throw new AdapterNameError(name, 'must not be empty');
  if (name === '..' || name.includes('..')) throw new AdapterNameError(name, 'must not contain ".."');
  if (/[/\\]/.test(name)) throw new AdapterNameError(name, 'must not contain "/" or "\\"');
  if (/^[a-zA-Z]:/.test(name)) throw new AdapterNameError(name, 'must not be a drive path');
  if (name.includes('.'))
    throw new AdapterNameError(name, 'must not contain "." (it is a module path separator)');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
  if (/[\u0000-\u001f\u007f]/.test(name))
    throw new AdapterNameError(name, 'must not contain control characters');
}
