/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** Something unexpected; a bug worth reporting. */
  internal: 1,
  /** Bad arguments or unknown command (commander's own errors). */
  usage: 2,
  /** The input was rejected: a malformed file, a wrong shape, a missing tensor (a PeftError). */
  badInput: 3,
} as const;
