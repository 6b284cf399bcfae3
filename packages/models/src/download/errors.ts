import { PeftError } from '@peft/core';

/** Stable codes of `HubDownloadError`: branch on these, not on the message. */
export type HubDownloadErrorCode =
  /** The repository id or revision is malformed, or no file of the repository matches `include`. */
  | 'HUB_BAD_REQUEST'
  /** 401: the repository does not exist or is private, and no (valid) token was sent. */
  | 'HUB_UNAUTHORIZED'
  /** 403: the repository is gated (accept its terms on the Hub) or the token may not read it. */
  | 'HUB_FORBIDDEN'
  /** 404: no such repository or revision. */
  | 'HUB_NOT_FOUND'
  /** The connection failed or broke, or the Hub answered with an unexpected status. */
  | 'HUB_NETWORK'
  /** The file listing is malformed or names a path outside the target folder. */
  | 'HUB_LISTING_INVALID'
  /** A downloaded file's size or hash differs from what the listing promised. */
  | 'HUB_FILE_MISMATCH'
  /** The repository has no `model.safetensors` / `model.safetensors.index.json` for the loader. */
  | 'HUB_NO_SAFETENSORS';

/** A model folder could not be downloaded from the Hugging Face Hub (or a server speaking its API). */
export class HubDownloadError extends PeftError {
  declare readonly code: HubDownloadErrorCode;
  readonly repo: string;
  /** The file being fetched, when the failure concerns one. */
  readonly file: string | undefined;
  /** The HTTP status, when the Hub answered with one. */
  readonly status: number | undefined;

  constructor(
    code: HubDownloadErrorCode,
    repo: string,
    message: string,
    details: { file?: string; status?: number; cause?: unknown } = {},
  ) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.repo = repo;
    this.file = details.file;
    this.status = details.status;
  }
}
