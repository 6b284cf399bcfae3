// Everything the Hub tells us becomes a URL or a path on disk; these checks keep a hostile listing or a typo
// from reaching outside the target folder or the repository's URL space.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { HubDownloadError } from './errors.js';

// Hub repository ids: `name` or `namespace/name`, letters, digits, `-`, `_` and `.`.
const REPO_ID = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;

export function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..') || repo.length > 200) {
    throw new HubDownloadError(
      'HUB_BAD_REQUEST',
      repo,
      `${JSON.stringify(repo)} is not a Hugging Face model id: expected "namespace/name" (letters, digits, -, _ and .), e.g. "HuggingFaceTB/SmolLM2-135M"`,
    );
  }
}

export function checkRevision(repo: string, revision: string): void {
  // Branches, tags, commit hashes and refs/pr/N; nothing that could end a URL segment early.
  if (
    revision === '' ||
    revision.length > 256 ||
    !/^[\w./-]+$/.test(revision) ||
    revision.split('/').includes('..')
  ) {
    throw new HubDownloadError(
      'HUB_BAD_REQUEST',
      repo,
      `revision ${JSON.stringify(revision)} is not a branch, tag or commit hash`,
    );
  }
}

/**
 * Checks a path from the Hub listing and returns where it goes inside `dir`. Refused: absolute paths, `.` and
 * `..` segments, empty segments, backslashes and control characters, and anything that would still resolve
 * outside `dir`.
 */
export function localPathOf(repo: string, dir: string, hubPath: string): string {
  const segments = hubPath.split('/');
  const refuse = (why: string): never => {
    throw new HubDownloadError(
      'HUB_LISTING_INVALID',
      repo,
      `the Hub listing of ${repo} names the file ${JSON.stringify(hubPath)}, which ${why}; nothing was written for it. Check the repository id and the hub URL.`,
      { file: hubPath },
    );
  };
  if (hubPath.length === 0 || hubPath.length > 1024) refuse('is empty or too long');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\\\u0000-\u001f\u007f]/.test(hubPath)) refuse('contains a backslash or a control character');
  if (hubPath.startsWith('/') || isAbsolute(hubPath)) refuse('is an absolute path');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    refuse('has an empty, "." or ".." segment');
  }
  const root = resolve(dir);
  const path = resolve(root, ...segments);
  const inside = relative(root, path);
  if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside)) {
    refuse('would be written outside the target folder');
  }
  return path;
}

/** The path as a URL path: each segment percent-encoded, so `#`, `?` or spaces cannot change the request. */
export function urlPathOf(hubPath: string): string {
  return hubPath.split('/').map(encodeURIComponent).join('/');
}
