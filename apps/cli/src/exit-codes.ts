/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** Something unexpected; a bug worth reporting. */
  internal: 1,
  /** Bad arguments or unknown command (commander's own errors). */
  usage: 2,
  /**
   * The input was rejected (a malformed file, a wrong shape, a missing tensor: a PeftError), or the file
   * system refused (disk full, read-only, permission denied, a file where a folder is expected, an output
   * that would overwrite an input): a FileSystemError, also for Node errno errors any command meets.
   */
  badInput: 3,
  /** Stopped by Ctrl-C (SIGINT) after saving what is needed to continue (e.g. `finetune --resume`). */
  interrupted: 130,
} as const;

/** Thrown by a command to end with a specific exit code after it has said why. */
export class CommandExit extends Error {
  constructor(
    readonly exitCode: number,
    message = `exit ${exitCode}`,
  ) {
    super(message);
  }
}
