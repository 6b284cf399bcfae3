// The Hub listing gives each file's git blob id (`oid`, SHA-1 of "blob <size>\0" + content) and, for files
// stored with LFS/Xet (the weights), the SHA-256 of the content (`lfs.oid`). Checking these decides whether a
// file already on disk is the one the revision has, and whether a download arrived intact.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** What the listing promises about one file. */
export interface ExpectedFile {
  readonly size: number;
  /** SHA-256 of the content (LFS/Xet files). */
  readonly sha256?: string;
  /** Git blob SHA-1 (files stored in git itself). */
  readonly gitOid?: string;
}

/** Hashes bytes as they stream past, in the one form the listing lets us check. */
export class ContentHasher {
  private readonly hash: Hash | undefined;
  private readonly expectedHex: string | undefined;

  constructor(expected: ExpectedFile) {
    if (expected.sha256 !== undefined) {
      this.hash = createHash('sha256');
      this.expectedHex = expected.sha256.toLowerCase();
    } else if (expected.gitOid !== undefined) {
      this.hash = createHash('sha1').update(`blob ${expected.size}\0`);
      this.expectedHex = expected.gitOid.toLowerCase();
    }
  }

  update(chunk: Uint8Array): void {
    this.hash?.update(chunk);
  }

  /** Which hash disagreed, or undefined when it matches (or the listing gave none). */
  mismatch(): string | undefined {
    if (this.hash === undefined) return undefined;
    const got = this.hash.digest('hex');
    if (got === this.expectedHex) return undefined;
    return `${this.expectedHex?.length === 64 ? 'sha256' : 'git blob id'} ${got} instead of ${this.expectedHex}`;
  }
}

/** Whether the file at `path` (known to have the expected size) has the expected content hash. */
export async function fileMatches(path: string, expected: ExpectedFile): Promise<boolean> {
  const hasher = new ContentHasher(expected);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }))
    hasher.update(chunk as Buffer);
  return hasher.mismatch() === undefined;
}
