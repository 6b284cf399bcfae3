// A local stand-in for the two Hugging Face Hub endpoints `@huggingface/hub` uses to download a repository,
// serving a folder on disk on 127.0.0.1: the file listing (`/api/models/<repo>/tree/<rev>`) and the files
// (`/<repo>/resolve/<rev>/<path>`, answering `Range: bytes=a-b` with 206, as the Hub does).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

export interface FakeHub {
  readonly url: string;
  /** Full downloads per repository path. */
  readonly downloads: Map<string, number>;
  close(): Promise<void>;
}

export async function serveFolderAsHubRepo(dir: string, repo: string, revision = 'main'): Promise<FakeHub> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    files.set(relative(dir, full).split(sep).join('/'), await readFile(full));
  }
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const listing = [...files].map(([path, bytes]) => ({
    type: 'file',
    oid: createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex'),
    size: bytes.length,
    path,
    ...(path.endsWith('.safetensors')
      ? { lfs: { oid: sha256(bytes), size: bytes.length, pointerSize: 134 } }
      : {}),
  }));
  const downloads = new Map<string, number>();

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    if (path === `/api/models/${repo}/tree/${revision}`) {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(listing));
      return;
    }
    const prefix = `/${repo}/resolve/${revision}/`;
    const bytes = path.startsWith(prefix) ? files.get(path.slice(prefix.length)) : undefined;
    if (!bytes) {
      response.writeHead(404, { 'Content-Type': 'application/json', 'X-Error-Code': 'RepoNotFound' });
      response.end(JSON.stringify({ error: 'Repository not found' }));
      return;
    }
    const etag = `"${sha256(bytes)}"`;
    const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(Number(range[2]), bytes.length - 1);
      response.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, ETag: etag });
      response.end(bytes.subarray(start, end + 1));
      return;
    }
    const name = path.slice(prefix.length);
    downloads.set(name, (downloads.get(name) ?? 0) + 1);
    response.writeHead(200, { 'Content-Length': String(bytes.length), ETag: etag });
    response.end(bytes);
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    downloads,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
