// A model folder's identity for a run's fingerprint, without reading its weights.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../fingerprint.js';

/** The hash of config.json and the name and size of every weight file. */
export async function modelFolderFingerprint(dir: string): Promise<Record<string, unknown>> {
  const config = await readFile(join(dir, 'config.json'));
  const files: Record<string, number> = {};
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.safetensors')) continue;
    files[name] = (await stat(join(dir, name))).size;
  }
  return { config_sha256: await sha256Hex(new Uint8Array(config)), weight_files: files };
}
