// A real npm registry on the loopback interface (verdaccio, in this process), so packages can be published
// and installed by name exactly as users will: `@peft/*` is served from local storage only (a name that
// was not published here is a 404, never a package of the public registry), everything else is proxied to
// the registry npm is configured with.
import { mkdir, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runServer } from 'verdaccio';

export interface LocalRegistry {
  /** e.g. "http://127.0.0.1:41234/" (with the trailing slash npm writes). */
  readonly url: string;
  /** Closes the server and every open connection; safe to call twice. */
  stop(): Promise<void>;
}

/** verdaccio's config.yaml; JSON is valid YAML, so no YAML writer is needed. */
function registryConfig(uplink: string): Record<string, unknown> {
  return {
    storage: './storage',
    auth: { htpasswd: { file: './htpasswd', max_users: -1 } },
    uplinks: { upstream: { url: uplink, timeout: '120s', max_fails: 5 } },
    packages: {
      // No `proxy`: the scope never reaches the public registry, so an install proves the local tarball.
      '@peft/*': { access: '$all', publish: '$all', unpublish: '$all' },
      '**': { access: '$all', publish: '$authenticated', proxy: 'upstream' },
    },
    // The published CLI carries its demo model (a few MB).
    max_body_size: '100mb',
    web: { enable: false },
    log: { type: 'stdout', format: 'pretty', level: 'error' },
  };
}

/**
 * Starts a registry keeping its storage in `dir`, listening on 127.0.0.1 on a port the system picks, and
 * resolves once it answers requests.
 */
export async function startLocalRegistry(dir: string, uplink: string): Promise<LocalRegistry> {
  await mkdir(join(dir, 'storage'), { recursive: true });
  const configPath = join(dir, 'config.yaml');
  await writeFile(configPath, `${JSON.stringify(registryConfig(uplink), null, 2)}\n`);
  const server = (await runServer(configPath)) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/`;
  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Keep-alive sockets of finished npm processes would otherwise hold close() open.
      server.closeAllConnections();
    });
    return stopped;
  };
  try {
    const ping = await fetch(`${url}-/ping`, { signal: AbortSignal.timeout(30_000) });
    if (!ping.ok) throw new Error(`the local registry at ${url} answered its ping with ${ping.status}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}
