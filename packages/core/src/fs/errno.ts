// One place that turns Node's errno errors into a FileSystemError with a sentence a user can act on.
import { FileSystemError } from './errors.js';

/** The fields Node puts on a failed system call. */
interface ErrnoLike {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
}

/** What each errno means for the user, and what to do about it. */
const REASONS: Record<string, { reason: string; advice?: string }> = {
  ENOSPC: { reason: 'no space left on the device', advice: 'free some space or write elsewhere' },
  EDQUOT: { reason: 'the disk quota is exhausted', advice: 'free some space or write elsewhere' },
  EROFS: { reason: 'the file system is read-only', advice: 'write to a writable location' },
  EACCES: { reason: 'permission denied', advice: 'check its permissions or use another path' },
  EPERM: { reason: 'operation not permitted', advice: 'check its permissions or use another path' },
  EEXIST: { reason: 'something already exists there', advice: 'remove it or use another path' },
  ENOTDIR: { reason: 'a part of the path is a file, not a folder', advice: 'check the path' },
  EISDIR: { reason: 'it is a folder where a file is expected', advice: 'give a file path' },
  ENOENT: { reason: 'no such file or folder', advice: 'check the path' },
  ENOTEMPTY: { reason: 'the folder is not empty', advice: 'use an empty or new folder' },
  ENAMETOOLONG: { reason: 'the name is too long', advice: 'use a shorter path' },
  ELOOP: { reason: 'too many levels of symbolic links', advice: 'check the links along the path' },
  EBUSY: { reason: 'it is busy (in use or a mount point)', advice: 'use another path' },
  EXDEV: { reason: 'it is on another device than its destination', advice: 'keep both on one file system' },
  ETXTBSY: { reason: 'the file is in use', advice: 'close the program using it or use another path' },
  EMFILE: { reason: 'too many open files', advice: 'raise the limit (ulimit -n) and retry' },
  ENFILE: { reason: 'too many open files on the system', advice: 'close some programs and retry' },
  EIO: { reason: 'an input/output error (a failing disk or network file system)', advice: 'check the disk' },
};

/** How each system call reads in a sentence: "cannot <verb> <path>". */
const VERBS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  fsync: 'write',
  ftruncate: 'write',
  mkdir: 'create the folder',
  mkdtemp: 'create a folder in',
  rename: 'move',
  unlink: 'remove',
  rmdir: 'remove',
  rm: 'remove',
  scandir: 'list',
  opendir: 'list',
  stat: 'read',
  lstat: 'read',
  fstat: 'read',
  access: 'access',
  realpath: 'resolve',
  copyfile: 'copy',
  chmod: 'change the permissions of',
  fchmod: 'change the permissions of',
  symlink: 'link',
  link: 'link',
  readlink: 'read the link',
  utime: 'update',
};

function isErrnoLike(value: unknown): value is ErrnoLike {
  if (typeof value !== 'object' || value === null) return false;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && Object.hasOwn(REASONS, code);
}

/** Whether `error` (or an error in its `cause` chain) is a file-system situation this module knows. */
export function isFileSystemSituation(error: unknown): boolean {
  return findErrno(error) !== undefined;
}

function findErrno(error: unknown): ErrnoLike | undefined {
  let current = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (isErrnoLike(current)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface FileSystemErrorOptions {
  /** The path to name instead of the one the error carries (e.g. the target of a temp-file write). */
  readonly path?: string;
  /** What was being done, to use instead of the system call's verb (e.g. "write"). */
  readonly verb?: string;
}

/**
 * `error` as a `FileSystemError` when it (or its cause) is a Node errno error with a known code
 * (ENOSPC, EROFS, EACCES, EPERM, EEXIST, ENOTDIR, EISDIR, ENOENT, ...); a `FileSystemError` is
 * returned as is; anything else gives `undefined`. The message is one sentence naming the path.
 */
export function toFileSystemError(
  error: unknown,
  options: FileSystemErrorOptions = {},
): FileSystemError | undefined {
  if (error instanceof FileSystemError) return error;
  const errno = findErrno(error);
  if (!errno) return undefined;
  const { reason, advice } = REASONS[errno.code]!;
  const path = options.path ?? errno.path;
  const verb = options.verb ?? (errno.syscall ? VERBS[errno.syscall] : undefined) ?? 'access';
  const where =
    path === undefined
      ? 'a file'
      : options.path === undefined && errno.syscall === 'rename' && errno.dest !== undefined
        ? `${path} to ${errno.dest}`
        : path;
  return new FileSystemError(
    errno.code,
    path,
    `cannot ${verb} ${where}: ${reason} (${errno.code})${advice ? `; ${advice}` : ''}.`,
    { cause: error },
  );
}

/** Runs `action`; a file-system situation it throws becomes a `FileSystemError` (see `toFileSystemError`). */
export async function withFileSystemErrors<T>(
  action: () => Promise<T>,
  options: FileSystemErrorOptions = {},
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw toFileSystemError(error, options) ?? error;
  }
}
