import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeRandomModel } from '@peft/models/node';

/** A random-weight folder of the preset in the temp folder, written once and reused (it depends on the preset alone). */
export async function presetFolder(preset: string): Promise<string> {
  const dir = join(tmpdir(), `peft-bench-${preset}`);
  if (await stat(join(dir, 'config.json')).catch(() => null)) return dir;
  process.stderr.write(`writing a random ${preset} folder to ${dir}...\n`);
  await writeRandomModel(dir, preset, { seed: 0 });
  return dir;
}
