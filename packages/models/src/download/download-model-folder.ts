// Node-only: fetches a Hugging Face model repository into a local folder with `@huggingface/hub`, so a machine
// with Node and npm needs no Python `huggingface-cli` to get a checkpoint `loadPretrainedFolder` reads.
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ListFileEntry } from '@huggingface/hub';
import { PeftError } from '@peft/core';
import { writeFileAtomic } from '@peft/core/node';
import { HubDownloadError } from './errors.js';
import { ContentHasher, type ExpectedFile, fileMatches } from './file-hash.js';
import { globToRegExp, matchesAnyGlob } from './glob.js';
import { checkRepoId, checkRevision, localPathOf, urlPathOf } from './hub-paths.js';

/**
 * What the loader reads: configs and tokenizer files, the chat template, `model.safetensors` or the shards of
 * `model.safetensors.index.json` (`model-0000i-of-0000n.safetensors`). PyTorch pickles (`*.bin`, `*.pth`),
 * GGUF files and copies such as Mistral's `consolidated.safetensors` are left out unless asked for.
 */
export const DEFAULT_DOWNLOAD_INCLUDE: readonly string[] = [
  '*.json',
  '*.jinja',
  'tokenizer.model',
  'model.safetensors',
  'model-*.safetensors',
];

export const DEFAULT_HUB_URL = 'https://huggingface.co';

// A model repository has tens of files; a listing far beyond this is not one we should walk.
const MAX_LISTED_FILES = 100_000;

export interface DownloadProgress {
  /** Path of the file inside the repository. */
  readonly file: string;
  /** 0-based position of the file among those selected, and how many were selected. */
  readonly fileIndex: number;
  readonly fileCount: number;
  /** `skipped`: already complete on disk; `downloading`: bytes arrived; `done`: renamed into place. */
  readonly status: 'skipped' | 'downloading' | 'done';
  readonly fileBytesDone: number;
  readonly fileBytes: number;
  /** Bytes of every selected file done so far (skipped files count as done), and in all. */
  readonly bytesDone: number;
  readonly totalBytes: number;
}

export interface DownloadModelFolderOptions {
  /** Repository id, e.g. `HuggingFaceTB/SmolLM2-135M`. */
  repo: string;
  /** Folder to write into (created if needed); files keep their repository paths below it. */
  dir: string;
  /** Branch, tag or commit (default `main`). */
  revision?: string;
  /**
   * Globs over repository paths (`*` and `?` stay within a folder, `**` crosses folders). Default
   * `DEFAULT_DOWNLOAD_INCLUDE`; with the default a repository without safetensors weights is an error.
   */
  include?: readonly string[];
  /** Access token for private or gated repositories (default: the `HF_TOKEN` environment variable). */
  token?: string;
  /** Hub endpoint (default: the `HF_ENDPOINT` environment variable, else https://huggingface.co). */
  hubUrl?: string;
  /** Replaces the global `fetch`, e.g. for a proxy. */
  fetch?: typeof fetch;
  onProgress?: (progress: DownloadProgress) => void;
}

export interface DownloadedFile {
  readonly path: string;
  readonly bytes: number;
  /** `skipped`: the file on disk already had the listed size and hash. */
  readonly status: 'downloaded' | 'skipped';
}

export interface DownloadModelFolderReport {
  readonly repo: string;
  readonly revision: string;
  readonly dir: string;
  readonly files: readonly DownloadedFile[];
  readonly downloadedBytes: number;
  readonly skippedBytes: number;
}

interface SelectedFile extends ExpectedFile {
  readonly path: string;
  readonly localPath: string;
}

// Loaded on first use: every `peft` command imports this entry, and only `download` needs the Hub client.
type HubClient = typeof import('@huggingface/hub');

interface HubContext {
  readonly hub: HubClient;
  readonly repo: string;
  readonly revision: string;
  readonly hubUrl: string;
  readonly accessToken: string | undefined;
  readonly fetch: typeof fetch | undefined;
}

/**
 * Downloads the files of a Hub model repository that match `include` into `dir`, keeping their paths. Each
 * file streams into a temp file beside its final name, is checked against the listing's size and hash
 * (SHA-256 for LFS/Xet files, the git blob id otherwise) and only then renamed into place, so an interrupted
 * run leaves no partial file under a final name. A file already on disk with the listed size and hash is
 * skipped, so running again resumes where a run stopped. Every path in the listing is checked before anything
 * is written: none may lead outside `dir`. Failures are `HubDownloadError`s (see its codes); disk failures
 * are `FileSystemError`s naming the file.
 */
export async function downloadModelFolder(
  options: DownloadModelFolderOptions,
): Promise<DownloadModelFolderReport> {
  const { repo, dir } = options;
  checkRepoId(repo);
  const revision = options.revision ?? 'main';
  checkRevision(repo, revision);
  const context: HubContext = {
    hub: await import('@huggingface/hub'),
    repo,
    revision,
    hubUrl: (options.hubUrl ?? nonEmpty(process.env.HF_ENDPOINT) ?? DEFAULT_HUB_URL).replace(/\/+$/, ''),
    accessToken: checkedToken(repo, options.token ?? nonEmpty(process.env.HF_TOKEN)),
    fetch: options.fetch,
  };

  const listing = await listRepository(context);
  // Check every listed path, selected or not: a listing that lies about one path is not trusted for the rest.
  const localPaths = new Map(listing.map((entry) => [entry.path, localPathOf(repo, dir, entry.path)]));
  const selected = selectFiles(context, listing, options.include).map(
    (entry): SelectedFile => ({
      path: entry.path,
      localPath: localPaths.get(entry.path) as string,
      size: entry.size,
      ...(entry.lfs?.oid === undefined ? {} : { sha256: entry.lfs.oid }),
      ...(entry.lfs === undefined && entry.oid !== undefined ? { gitOid: entry.oid } : {}),
    }),
  );

  const totalBytes = selected.reduce((sum, file) => sum + file.size, 0);
  let bytesDone = 0;
  const files: DownloadedFile[] = [];
  for (const [fileIndex, file] of selected.entries()) {
    const report = (status: DownloadProgress['status'], fileBytesDone: number) =>
      options.onProgress?.({
        file: file.path,
        fileIndex,
        fileCount: selected.length,
        status,
        fileBytesDone,
        fileBytes: file.size,
        bytesDone: bytesDone + fileBytesDone,
        totalBytes,
      });
    if (await isComplete(file)) {
      report('skipped', file.size);
      files.push({ path: file.path, bytes: file.size, status: 'skipped' });
    } else {
      await mkdir(dirname(file.localPath), { recursive: true });
      await downloadOne(context, file, (done) => report('downloading', done));
      report('done', file.size);
      files.push({ path: file.path, bytes: file.size, status: 'downloaded' });
    }
    bytesDone += file.size;
  }
  const sum = (status: DownloadedFile['status']) =>
    files.filter((file) => file.status === status).reduce((total, file) => total + file.bytes, 0);
  return { repo, revision, dir, files, downloadedBytes: sum('downloaded'), skippedBytes: sum('skipped') };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function checkedToken(repo: string, token: string | undefined): string | undefined {
  if (token !== undefined && !token.startsWith('hf_')) {
    throw new HubDownloadError(
      'HUB_BAD_REQUEST',
      repo,
      'the access token (HF_TOKEN) does not start with "hf_"; copy a token from https://huggingface.co/settings/tokens',
    );
  }
  return token;
}

async function listRepository(context: HubContext): Promise<ListFileEntry[]> {
  const entries: ListFileEntry[] = [];
  try {
    for await (const entry of context.hub.listFiles({
      repo: context.repo,
      // listFiles puts the revision into the URL as given; `refs/pr/1` must stay one segment.
      revision: encodeURIComponent(context.revision),
      recursive: true,
      hubUrl: context.hubUrl,
      ...(context.fetch === undefined ? {} : { fetch: context.fetch }),
      ...(context.accessToken === undefined ? {} : { accessToken: context.accessToken }),
    })) {
      if (entries.length >= MAX_LISTED_FILES) {
        throw new HubDownloadError(
          'HUB_LISTING_INVALID',
          context.repo,
          `the Hub listing of ${context.repo} has more than ${MAX_LISTED_FILES} files; this is not a model repository`,
        );
      }
      if ((entry as { type?: unknown }).type !== 'file') continue;
      entries.push(checkedEntry(context.repo, entry));
    }
  } catch (error) {
    throw hubError(context, error, undefined);
  }
  return entries;
}

function checkedEntry(repo: string, entry: ListFileEntry): ListFileEntry {
  const { path, size, lfs } = entry as { path: unknown; size: unknown; lfs?: { oid?: unknown } };
  const hexOrAbsent = (value: unknown, length: number) =>
    value === undefined ||
    (typeof value === 'string' && value.length === length && /^[0-9a-f]+$/i.test(value));
  if (
    typeof path !== 'string' ||
    typeof size !== 'number' ||
    !Number.isSafeInteger(size) ||
    size < 0 ||
    !hexOrAbsent(lfs?.oid, 64) ||
    !hexOrAbsent(entry.oid, 40)
  ) {
    throw new HubDownloadError(
      'HUB_LISTING_INVALID',
      repo,
      `the Hub listing of ${repo} has a malformed entry ${JSON.stringify(entry).slice(0, 200)}; check the hub URL`,
    );
  }
  return entry;
}

function selectFiles(
  context: HubContext,
  listing: readonly ListFileEntry[],
  include: readonly string[] | undefined,
): ListFileEntry[] {
  const globs = (include ?? DEFAULT_DOWNLOAD_INCLUDE).map(globToRegExp);
  // config.json last: a folder with a config then has every file the config's weights need.
  const selected = listing
    .filter((entry) => matchesAnyGlob(entry.path, globs))
    .sort((a, b) => Number(a.path === 'config.json') - Number(b.path === 'config.json'));
  const names = listing.map((entry) => entry.path);
  if (
    include === undefined &&
    !names.some((name) => name === 'model.safetensors' || name === 'model.safetensors.index.json')
  ) {
    const pickles = names.filter((name) => /\.(bin|pth|pt)$/.test(name) && !name.includes('/'));
    const otherSafetensors = names.filter((name) => name.endsWith('.safetensors'));
    const found =
      pickles.length > 0
        ? ` It has PyTorch pickle weights (${pickles.slice(0, 3).join(', ')}), which peft.js does not read: convert them to safetensors first (in Python, \`AutoModelForCausalLM.from_pretrained(folder).save_pretrained(out)\` writes model.safetensors) or pick a repository that ships safetensors.`
        : otherSafetensors.length > 0
          ? ` It has ${otherSafetensors.slice(0, 3).join(', ')}; name the files you want with include (--include).`
          : '';
    throw new HubDownloadError(
      'HUB_NO_SAFETENSORS',
      context.repo,
      `${context.repo}@${context.revision} has no model.safetensors or model.safetensors.index.json, so there are no weights the loader reads.${found}`,
    );
  }
  if (selected.length === 0) {
    throw new HubDownloadError(
      'HUB_BAD_REQUEST',
      context.repo,
      `no file of ${context.repo}@${context.revision} matches ${JSON.stringify(include ?? DEFAULT_DOWNLOAD_INCLUDE)}; it has ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}`,
    );
  }
  return selected;
}

async function isComplete(file: SelectedFile): Promise<boolean> {
  try {
    const info = await stat(file.localPath);
    return info.isFile() && info.size === file.size && (await fileMatches(file.localPath, file));
  } catch {
    return false;
  }
}

async function downloadOne(
  context: HubContext,
  file: SelectedFile,
  onBytes: (done: number) => void,
): Promise<void> {
  let blob: Blob | null;
  try {
    blob = await context.hub.downloadFile({
      repo: context.repo,
      path: urlPathOf(file.path),
      revision: context.revision,
      hubUrl: context.hubUrl,
      // Plain HTTP: one streamed GET of the resolve URL, following the Hub's redirect to its storage, as
      // transformers.js and curl download, instead of the Xet protocol's reconstruction of the file from
      // many chunk requests. This is also the path the offline tests exercise.
      xet: false,
      ...(context.fetch === undefined ? {} : { fetch: context.fetch }),
      ...(context.accessToken === undefined ? {} : { accessToken: context.accessToken }),
    });
  } catch (error) {
    throw hubError(context, error, file.path);
  }
  if (blob === null) {
    throw new HubDownloadError(
      'HUB_LISTING_INVALID',
      context.repo,
      `${context.repo}@${context.revision} lists ${file.path} but the Hub has no such file; run again (the revision may have moved)`,
      { file: file.path },
    );
  }
  if (blob.size !== file.size)
    throw mismatch(context, file, `${blob.size} bytes offered, ${file.size} listed`);

  // The first failure seen while streaming; writeFileAtomic removes its temp file and rethrows, and this is
  // the error to report rather than however it wraps it.
  let failure: unknown;
  async function* checkedChunks(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
    const hasher = new ContentHasher(file);
    const reader = stream.getReader();
    let done = 0;
    try {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          throw hubError(context, error, file.path);
        }
        if (next.done) break;
        done += next.value.byteLength;
        // Stop before writing more than the listing promised: a server cannot fill the disk.
        if (done > file.size)
          throw mismatch(context, file, `more than the ${file.size} listed bytes arrived`);
        hasher.update(next.value);
        onBytes(done);
        yield next.value;
      }
      if (done !== file.size) throw mismatch(context, file, `${done} of ${file.size} bytes arrived`);
      const wrongHash = hasher.mismatch();
      if (wrongHash !== undefined) throw mismatch(context, file, wrongHash);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      reader.releaseLock();
      await stream.cancel().catch(() => undefined);
    }
  }
  try {
    await writeFileAtomic(file.localPath, checkedChunks(blob.stream()));
  } catch (error) {
    throw failure ?? error;
  }
}

function mismatch(context: HubContext, file: SelectedFile, detail: string): HubDownloadError {
  return new HubDownloadError(
    'HUB_FILE_MISMATCH',
    context.repo,
    `${file.path} from ${context.repo}@${context.revision} does not match the Hub listing (${detail}); nothing was written under its name. Run again; if it repeats, the file changed on the Hub while downloading or a proxy alters it.`,
    { file: file.path },
  );
}

/** Turns what `@huggingface/hub` or `fetch` threw into a `HubDownloadError` that says what to do. */
function hubError(context: HubContext, error: unknown, file: string | undefined): PeftError {
  if (error instanceof PeftError) return error;
  const { repo, revision, hubUrl } = context;
  const what =
    file === undefined
      ? `listing the files of ${repo}@${revision}`
      : `fetching ${file} from ${repo}@${revision}`;
  const details = { cause: error, ...(file === undefined ? {} : { file }) };
  const status = statusOf(error);
  if (status === 401) {
    return new HubDownloadError(
      'HUB_UNAUTHORIZED',
      repo,
      `${hubUrl} answered 401 (unauthorized) ${what}: the repository does not exist, or it is private or gated and needs a token${context.accessToken === undefined ? '' : ' other than the one given'}. Set HF_TOKEN to an access token from ${DEFAULT_HUB_URL}/settings/tokens and run again.`,
      { ...details, status },
    );
  }
  if (status === 403) {
    return new HubDownloadError(
      'HUB_FORBIDDEN',
      repo,
      `${hubUrl} answered 403 (forbidden) ${what}: the repository is gated or the token may not read it. Accept its terms at ${hubUrl}/${repo} with your account, set HF_TOKEN to a token of that account with read access and run again.`,
      { ...details, status },
    );
  }
  if (status === 404) {
    return new HubDownloadError(
      'HUB_NOT_FOUND',
      repo,
      `${hubUrl} answered 404 (not found) ${what}: check the repository id and the revision.`,
      { ...details, status },
    );
  }
  const reason =
    status === undefined
      ? `${(error as Error)?.message ?? String(error)}${causeMessage(error)}`
      : `the Hub answered ${status}`;
  return new HubDownloadError(
    'HUB_NETWORK',
    repo,
    `network failure ${what} (${reason}). Check the connection (and HF_ENDPOINT) and run again: files already complete are kept.`,
    status === undefined ? details : { ...details, status },
  );
}

// `@huggingface/hub` throws a `HubApiError` carrying the HTTP status as `statusCode`.
function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function causeMessage(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (cause === undefined || cause === null) return '';
  const code = (cause as { code?: unknown }).code;
  return `: ${typeof code === 'string' ? `${code} ` : ''}${(cause as Error).message ?? String(cause)}`;
}
