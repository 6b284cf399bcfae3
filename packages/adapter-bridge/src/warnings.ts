import { globalRegistry } from '@peft/core';

/** Something worth telling the user that is not an error, e.g. "merging into 4-bit weights is lossy". */
export interface PeftWarning {
  /** Stable identifier to filter on, e.g. "LOSSY_MERGE". */
  readonly code: string;
  readonly message: string;
}

export type WarningHandler = (warning: PeftWarning) => void;

const defaultHandler: WarningHandler = (warning) => console.warn(`peft: ${warning.message}`);

// Shared through globalRegistry so that every installed copy of the bridge (and every method
// package) reports to the handler the application set.
const handlers = globalRegistry<WarningHandler>('warning-handler');

/** Replaces where warnings go (default: `console.warn`) and returns the previous handler. */
export function setWarningHandler(handler: WarningHandler): WarningHandler {
  const previous = handlers.get('current') ?? defaultHandler;
  handlers.set('current', handler);
  return previous;
}

export function warn(code: string, message: string): void {
  (handlers.get('current') ?? defaultHandler)({ code, message });
}
