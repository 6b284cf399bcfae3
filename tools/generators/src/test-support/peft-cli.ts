// The `peft` command line of a workspace copy, driven as a user drives it, and the small inputs it needs: a
// tiny random Llama folder, a JSONL file of texts and a safetensors header reader. Scripts that need the
// workspace's packages run with `node --input-type=module -e` from apps/cli, so they resolve exactly what the
// CLI resolves and leave no file in the copy.
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Run, run } from './workspace-copy.js';

/** `peft --plugin <plugin> ...args` from the copy's root, with the built CLI (apps/cli/dist). */
export function peft(copy: string, plugin: string | null, args: readonly string[]): Promise<Run> {
  const pluginArgs = plugin === null ? [] : ['--plugin', plugin];
  return run(process.execPath, ['apps/cli/dist/bin.js', ...pluginArgs, ...args], copy);
}

/** As `peft`, failing with the command's output unless it exits 0. */
export async function mustPeft(copy: string, plugin: string | null, args: readonly string[]): Promise<Run> {
  const result = await peft(copy, plugin, args);
  if (result.code !== 0) {
    throw new Error(`peft ${args.join(' ')} exited ${result.code}\n${result.output.slice(-8000)}`);
  }
  return result;
}

/** The one JSON object a `--json` command printed on stdout. */
export async function peftJson<T>(copy: string, plugin: string | null, args: readonly string[]): Promise<T> {
  return JSON.parse((await mustPeft(copy, plugin, [...args, '--json'])).stdout) as T;
}

/** Runs an ES module script from apps/cli of the copy (so `@peft/*` resolves as the CLI's); returns its stdout. */
export async function runCliScript(copy: string, script: string, args: readonly string[]): Promise<string> {
  const cwd = join(copy, 'apps', 'cli');
  const result = await run(process.execPath, ['--input-type=module', '-e', script, ...args], cwd);
  if (result.code !== 0)
    throw new Error(`script in ${cwd} exited ${result.code}\n${result.output.slice(-8000)}`);
  return result.stdout;
}

/** A Llama small enough to train in a second: 15 linear layers, about 40 thousand parameters. */
export const TINY_LLAMA = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  vocab_size: 300,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  torch_dtype: 'float32',
} as const;

export interface LinearShape {
  path: string;
  outFeatures: number;
  inFeatures: number;
  bias: boolean;
}

/** Every linear layer of TINY_LLAMA ([out, in], no biases), in checkpoint order, the output head last. */
export function tinyLlamaLinears(): LinearShape[] {
  const { hidden_size: h, intermediate_size: i, num_hidden_layers: layers, vocab_size: v } = TINY_LLAMA;
  const headDim = h / TINY_LLAMA.num_attention_heads;
  const kv = TINY_LLAMA.num_key_value_heads * headDim;
  const perLayer: [string, number, number][] = [
    ['self_attn.q_proj', h, h],
    ['self_attn.k_proj', kv, h],
    ['self_attn.v_proj', kv, h],
    ['self_attn.o_proj', h, h],
    ['mlp.gate_proj', i, h],
    ['mlp.up_proj', i, h],
    ['mlp.down_proj', h, i],
  ];
  const linears: LinearShape[] = [];
  for (let layer = 0; layer < layers; layer++) {
    for (const [name, outFeatures, inFeatures] of perLayer) {
      linears.push({ path: `model.layers.${layer}.${name}`, outFeatures, inFeatures, bias: false });
    }
  }
  linears.push({ path: 'lm_head', outFeatures: v, inFeatures: h, bias: false });
  return linears;
}

/** Parameters of TINY_LLAMA that are not in linear layers: the embedding and the RMSNorm weights. */
export function tinyLlamaOtherParameters(): number {
  const { hidden_size: h, num_hidden_layers: layers, vocab_size: v } = TINY_LLAMA;
  return v * h + layers * 2 * h + h;
}

const WRITE_MODEL = `
import { writeRandomModel } from '@peft/models/node';
const [dir, config] = process.argv.slice(1);
await writeRandomModel(dir, JSON.parse(config), { seed: 7, dtype: 'float32' });
`;

/** Writes TINY_LLAMA with random weights and a tokenizer.json to `dir`, with the copy's @peft/models. */
export async function writeTinyLlama(copy: string, dir: string): Promise<void> {
  await runCliScript(copy, WRITE_MODEL, [dir, JSON.stringify(TINY_LLAMA)]);
}

/** A JSONL training file of `rows` short {"text": ...} rows. */
export async function writeTextRows(file: string, rows: number): Promise<void> {
  const words = ['the quick brown fox', 'jumps over the lazy dog', 'a small model', 'learns a little'];
  const lines = Array.from({ length: rows }, (_, k) =>
    JSON.stringify({ text: `${words[k % words.length]} ${k}` }),
  );
  await writeFile(file, `${lines.join('\n')}\n`);
}

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
}

/** The tensors a .safetensors file declares (its JSON header), without reading their data. */
export async function safetensorsHeader(file: string): Promise<Map<string, SafetensorsEntry>> {
  const handle = await open(file, 'r');
  try {
    const size = Buffer.alloc(8);
    await handle.read(size, 0, 8, 0);
    const headerLength = Number(size.readBigUInt64LE(0));
    const header = Buffer.alloc(headerLength);
    await handle.read(header, 0, headerLength, 8);
    const entries = JSON.parse(header.toString('utf8')) as Record<string, SafetensorsEntry>;
    return new Map(
      Object.entries(entries)
        .filter(([key]) => key !== '__metadata__')
        .map(([key, { dtype, shape }]) => [key, { dtype, shape }]),
    );
  } finally {
    await handle.close();
  }
}

/** Elements stored in a .safetensors file. */
export async function safetensorsElements(file: string): Promise<number> {
  let total = 0;
  for (const { shape } of (await safetensorsHeader(file)).values()) total += shape.reduce((a, b) => a * b, 1);
  return total;
}
