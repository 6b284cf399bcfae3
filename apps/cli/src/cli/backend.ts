import { type BackendChoice, type BackendSetup, setupBackend } from '@peft/backends';

/** The options addBackendOption adds to a command. */
export interface BackendOptions {
  backend: BackendChoice;
  kernelThreads: number | 'auto';
}

/** Sets up the chosen backend and says on stderr which one runs, why, and on how many kernel threads. */
export async function startBackend(
  opts: BackendOptions,
  note: (line: string) => void,
): Promise<BackendSetup> {
  const setup = await setupBackend(opts.backend, { kernelThreads: opts.kernelThreads });
  const threads =
    setup.backend === 'wasm'
      ? `; 4-bit matmul on ${setup.kernelThreads} thread${setup.kernelThreads === 1 ? '' : 's'}`
      : '';
  note(`backend: ${setup.backend} (${setup.reason})${threads}`);
  if (setup.kernelThreadsNote) note(`kernel threads: ${setup.kernelThreadsNote}`);
  return setup;
}
