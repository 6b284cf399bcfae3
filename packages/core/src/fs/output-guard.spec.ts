import { link, mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempRoot } from '../test-support/fs.js';
import { OutputOverlapsInputError } from './errors.js';
import { assertOutputOutsideInputs, resolveFuturePath } from './output-guard.js';

let root: Awaited<ReturnType<typeof tempRoot>>;
let model: string;
beforeEach(async () => {
  root = await tempRoot('peft-guard-');
  model = join(root.dir, 'm');
  await mkdir(model);
  await writeFile(join(model, 'model.safetensors'), 'weights');
});
afterEach(async () => {
  await root.cleanup();
});

async function refusal(output: string, inputs: string[]): Promise<OutputOverlapsInputError> {
  const error = await assertOutputOutsideInputs(output, inputs).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OutputOverlapsInputError);
  return error as OutputOverlapsInputError;
}

describe('assertOutputOutsideInputs', () => {
  it('refuses a symlink to the input folder, naming both paths and what the link resolves to', async () => {
    const mlink = join(root.dir, 'mlink');
    await symlink(model, mlink);
    const error = await refusal(mlink, [model]);
    expect(error).toMatchObject({ code: 'OUTPUT_OVERLAPS_INPUT', output: mlink, input: model });
    expect(error.message).toBe(
      `output ${mlink} is the input; write to another path (both resolve to ${await realpath(model)}: the input ${model}).`,
    );
  });

  it('refuses the same path, a hard link, a path inside the input, and a folder holding the input', async () => {
    const weights = join(model, 'model.safetensors');
    expect((await refusal(model, [model])).message).toMatch(/is the input/);
    const hard = join(root.dir, 'hard.safetensors');
    await link(weights, hard);
    expect((await refusal(hard, [weights])).message).toBe(
      `output ${hard} is the input; write to another path (the same file as the input ${weights}, through a hard link or mount).`,
    );
    expect((await refusal(join(model, 'new', 'out'), [model])).message).toMatch(/lies inside the input/);
    expect((await refusal(root.dir, [model, weights])).message).toMatch(/contains the input/);
  });

  it('sees through a symlinked parent of an output that does not exist yet', async () => {
    const parentLink = join(root.dir, 'plink');
    await symlink(model, parentLink);
    expect(await resolveFuturePath(join(parentLink, 'x', 'y'))).toBe(join(model, 'x', 'y'));
    expect((await refusal(join(parentLink, 'x'), [model])).message).toMatch(/lies inside the input/);
  });

  it('allows a separate output, and skips inputs that do not exist', async () => {
    await assertOutputOutsideInputs(join(root.dir, 'out'), [model, join(model, 'model.safetensors')]);
    await assertOutputOutsideInputs(join(root.dir, 'out'), [join(root.dir, 'gone')]);
    // A sibling whose name starts like the input is not inside it.
    await assertOutputOutsideInputs(join(root.dir, 'm2'), [model]);
  });
});
