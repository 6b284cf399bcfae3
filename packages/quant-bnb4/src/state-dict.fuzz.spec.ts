import {
  bytesPerElement,
  fromFloat32,
  type HostTensor,
  hostTensor,
  PeftError,
  type StateDict,
  stateDictSource,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantize4bitFloat32 } from './dequantize.js';
import { Bnb4FormatError } from './errors.js';
import { Bnb4Linear } from './index.js';
import { quantize4bit } from './quantize.js';
import { bnb4StateDict, readBnb4Tensor } from './state-dict.js';
import { useBackend } from './test-support/tf.js';

// Seeded mutations of valid quant states (JSON fields, JSON text, tensor bytes, shapes, dtypes, missing keys).
// The contract: reading either succeeds, and then the state dequantizes to finite values and runs as a layer on
// the wasm kernels, or fails with a Bnb4FormatError; never another exception, never a hang.

const PREFIX = 'model.layers.3.self_attn.o_proj.';
const CASES = 600;

/** mulberry32: a small seeded PRNG, so a failing case is reproducible from its index. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bases(): StateDict[] {
  const weight = (n: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.91) * (1 + (i % 7)));
  return [
    bnb4StateDict(quantize4bit(weight(6 * 64), { shape: [6, 64] }), PREFIX),
    bnb4StateDict(
      quantize4bit(weight(3 * 129), { shape: [3, 129], quantType: 'fp4', doubleQuant: false }),
      PREFIX,
    ),
    bnb4StateDict(quantize4bit(weight(20 * 64), { shape: [20, 64], blocksize: 32 }), PREFIX),
  ];
}

const FIELD_VALUES: unknown[] = [
  0,
  -1,
  1,
  32,
  64,
  255,
  256,
  4096,
  8192,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  1e300,
  -1e300,
  3.4e38,
  1e-45,
  0.5,
  -0,
  'nf4',
  'fp4',
  'float16',
  'bfloat16',
  'float32',
  'int8',
  '',
  '256',
  null,
  true,
  [],
  {},
  [6, 64],
  [64, 6],
  [384],
  [2 ** 31, 2],
  [0, 64],
  [6.5, 64],
  [6, 64, 1],
  [1e9, 1e9],
];
const FIELDS = [
  'quant_type',
  'blocksize',
  'dtype',
  'shape',
  'nested_blocksize',
  'nested_dtype',
  'nested_offset',
];
const SPECIAL_FLOATS = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  3.4e38,
  -3.4e38,
  1e-40,
  -0,
  0,
];

function mutate(dict: StateDict, random: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const keys = [...dict.keys()];
  const blobKey =
    keys.find((k) => k.includes('quant_state')) ?? `${PREFIX}weight.quant_state.bitsandbytes__nf4`;
  const kind = Math.floor(random() * 6);
  const blob = dict.get(blobKey);
  if (!blob) return 'no blob left';
  const parsed = (): Record<string, unknown> | null => {
    try {
      const o = JSON.parse(new TextDecoder().decode(blob.data)) as unknown;
      return typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : null;
    } catch {
      return null; // an earlier mutation broke the text
    }
  };
  const o = kind <= 1 ? parsed() : null;
  if (o) {
    const field = pick(FIELDS);
    if (random() < 0.15) delete o[field];
    else o[field] = pick(FIELD_VALUES);
    const bytes = new TextEncoder().encode(JSON.stringify(o));
    dict.set(blobKey, hostTensor('U8', [bytes.length], bytes));
    return `json ${field}=${JSON.stringify(o[field])}`;
  }
  if (kind <= 2) {
    const bytes = blob.data.slice();
    const at = Math.floor(random() * bytes.length);
    bytes[at] = Math.floor(random() * 256);
    const cut = random() < 0.3 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
    dict.set(blobKey, hostTensor('U8', [cut.length], cut));
    return `json byte ${at}`;
  }
  const key = pick(keys.filter((k) => k !== blobKey));
  if (key === undefined) return 'nothing to mutate';
  const t = dict.get(key)!;
  if (kind === 3 && t.dtype === 'F32') {
    const f = new Float32Array(t.data.slice().buffer);
    const at = Math.floor(random() * f.length);
    f[at] = random() < 0.7 ? pick(SPECIAL_FLOATS) : (random() - 0.5) * 10 ** Math.floor(random() * 80 - 40);
    dict.set(key, fromFloat32(f, t.shape));
    return `${key}[${at}]=${f[at]}`;
  }
  if (kind === 4) {
    const bytes = t.data.slice();
    for (let i = 0; i < 4 && bytes.length > 0; i++)
      bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    dict.set(key, { ...t, data: bytes } as HostTensor);
    return `${key} bytes`;
  }
  const r = random();
  if (r < 0.3) {
    dict.delete(key);
    return `${key} removed`;
  }
  if (r < 0.6) {
    const n = Math.max(0, t.data.length + pick([-4, -1, 1, 4]));
    const bytes = new Uint8Array(n);
    bytes.set(t.data.subarray(0, Math.min(n, t.data.length)));
    dict.set(key, hostTensor('U8', [n], bytes));
    return `${key} as U8[${n}]`;
  }
  const dtype = pick(['F32', 'F16', 'I32', 'U8'] as const);
  const numel = Math.floor(t.data.length / bytesPerElement(dtype));
  dict.set(key, hostTensor(dtype, [numel], t.data.slice(0, numel * bytesPerElement(dtype))));
  return `${key} as ${dtype}[${numel}]`;
}

describe('readBnb4Tensor under seeded mutation (fuzz)', () => {
  beforeAll(() => useBackend('wasm'));
  afterAll(() => useBackend('cpu'));

  it(`${CASES} mutated states: a usable layer or a Bnb4FormatError, nothing else`, async () => {
    const random = prng(0x5eed);
    const outcomes = { read: 0, refused: 0 };
    const x = tf.ones([1, 64]);
    for (let c = 0; c < CASES; c++) {
      const dict = bases()[c % 3]!;
      const steps = [mutate(dict, random)];
      if (random() < 0.3) steps.push(mutate(dict, random));
      const where = `case ${c}: ${steps.join('; ')}`;
      let read: Awaited<ReturnType<typeof readBnb4Tensor>>;
      try {
        read = await readBnb4Tensor(stateDictSource(dict, 'fuzz.safetensors'), PREFIX);
      } catch (err) {
        expect(err, where).toBeInstanceOf(Bnb4FormatError);
        outcomes.refused++;
        continue;
      }
      outcomes.read++;
      const values = dequantize4bitFloat32(read.tensor);
      expect(values.every(Number.isFinite), where).toBe(true);
      let layer: Bnb4Linear;
      try {
        layer = Bnb4Linear.fromTensor(read.tensor, read.bias);
      } catch (err) {
        // A state that reads fine can still not be a linear layer (not 2-D); that too is a typed error.
        expect(err, where).toBeInstanceOf(PeftError);
        expect((err as PeftError).code, where).toBe('BNB4_FORMAT');
        continue;
      }
      const w = layer.dequantize();
      expect((w.dataSync() as Float32Array).every(Number.isFinite), where).toBe(true);
      if (layer.inFeatures === 64) tf.dispose(layer.forward(x));
      w.dispose();
      layer.dispose();
    }
    x.dispose();
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    expect(outcomes.read).toBeGreaterThan(CASES / 20);
    expect(outcomes.refused).toBeGreaterThan(CASES / 4);
  });
});
