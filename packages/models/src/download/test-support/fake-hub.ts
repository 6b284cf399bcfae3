// A local stand-in for the parts of the Hugging Face Hub API that `@huggingface/hub`'s `listFiles` and
// `downloadFile` call, serving a folder on disk as a model repository on 127.0.0.1:
//   GET /api/models/<repo>/tree/<revision>?recursive=true   the file listing (JSON)
//   GET /<repo>/resolve/<revision>/<path>                   the file; `Range: bytes=a-b` answered with 206
// Weights (`*.safetensors`) are listed as LFS files (sha256 in `lfs.oid`) and their resolve URL redirects to
// `/cdn/<sha256>`, as the Hub redirects LFS files to its CDN; other files are listed with their git blob id.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

export interface FakeHubFile {
  path: string;
  bytes: Uint8Array;
  lfs: boolean;
}

export interface FakeHubOptions {
  repo: string;
  revision?: string;
  /** When set, every request must carry `Authorization: Bearer <token>`, else 401. */
  token?: string;
  /** Answer 403 to everything, as for a gated repository whose terms were not accepted. */
  gated?: boolean;
}

export interface FakeHub {
  readonly url: string;
  readonly files: FakeHubFile[];
  /** Full (non-probe) downloads per repository path. */
  readonly downloads: Map<string, number>;
  /** Every request path, in order. */
  readonly requests: string[];
  /** Entries appended to the listing as given, e.g. a hostile path. */
  readonly extraListing: Record<string, unknown>[];
  /** Paths whose next full download sends half the body, then drops the connection. */
  readonly dropOnce: Set<string>;
  /** Paths served with these bytes instead of the listed ones. */
  readonly corrupt: Map<string, Uint8Array>;
  close(): Promise<void>;
}

/** Reads every file under `dir` (recursively) as the repository's content. */
export async function filesOfFolder(dir: string): Promise<FakeHubFile[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: FakeHubFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const path = relative(dir, full).split(sep).join('/');
    files.push({ path, bytes: new Uint8Array(await readFile(full)), lfs: path.endsWith('.safetensors') });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const gitOid = (bytes: Uint8Array) =>
  createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');

export async function startFakeHub(files: FakeHubFile[], options: FakeHubOptions): Promise<FakeHub> {
  const revision = options.revision ?? 'main';
  const downloads = new Map<string, number>();
  const requests: string[] = [];
  const extraListing: Record<string, unknown>[] = [];
  const dropOnce = new Set<string>();
  const corrupt = new Map<string, Uint8Array>();
  const byPath = () => new Map(files.map((file) => [file.path, file]));

  const listing = () => [
    ...files.map((file) => ({
      type: 'file',
      oid: gitOid(file.lfs ? new TextEncoder().encode(`lfs pointer ${sha256(file.bytes)}`) : file.bytes),
      size: file.bytes.byteLength,
      path: file.path,
      ...(file.lfs
        ? { lfs: { oid: sha256(file.bytes), size: file.bytes.byteLength, pointerSize: 134 } }
        : {}),
    })),
    ...extraListing,
  ];

  const sendFile = (request: IncomingMessage, response: ServerResponse, file: FakeHubFile) => {
    const bytes = corrupt.get(file.path) ?? file.bytes;
    const etag = `"${file.lfs ? sha256(file.bytes) : gitOid(file.bytes)}"`;
    const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(Number(range[2]), bytes.byteLength - 1);
      response.writeHead(206, {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `bytes ${start}-${end}/${bytes.byteLength}`,
        'Content-Length': String(end - start + 1),
        ETag: etag,
      });
      response.end(bytes.subarray(start, end + 1));
      return;
    }
    downloads.set(file.path, (downloads.get(file.path) ?? 0) + 1);
    response.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(bytes.byteLength),
      ETag: etag,
    });
    if (dropOnce.delete(file.path)) {
      response.write(bytes.subarray(0, Math.floor(bytes.byteLength / 2)), () => {
        request.socket.destroy();
      });
      return;
    }
    response.end(bytes);
  };

  const fail = (
    response: ServerResponse,
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ) => {
    response.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    response.end(JSON.stringify({ error: message }));
  };

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(url.pathname);
    requests.push(path);
    if (options.gated) return fail(response, 403, 'Access to this model is restricted.');
    if (options.token !== undefined && request.headers.authorization !== `Bearer ${options.token}`) {
      return fail(response, 401, 'Invalid credentials in Authorization header');
    }
    if (path === `/api/models/${options.repo}/tree/${revision}`) {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(listing()));
      return;
    }
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      const file = files.find((candidate) => sha256(candidate.bytes) === cdn[1]);
      return file ? sendFile(request, response, file) : fail(response, 404, 'no such object');
    }
    const resolvePrefix = `/${options.repo}/resolve/${revision}/`;
    if (path.startsWith(resolvePrefix)) {
      const file = byPath().get(path.slice(resolvePrefix.length));
      if (!file) return fail(response, 404, 'Entry not found', { 'X-Error-Code': 'EntryNotFound' });
      if (file.lfs) {
        response.writeHead(302, {
          Location: `/cdn/${sha256(file.bytes)}`,
          'X-Linked-Size': String(file.bytes.byteLength),
        });
        response.end();
        return;
      }
      return sendFile(request, response, file);
    }
    fail(response, 404, 'Repository not found', { 'X-Error-Code': 'RepoNotFound' });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    files,
    downloads,
    requests,
    extraListing,
    dropOnce,
    corrupt,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
