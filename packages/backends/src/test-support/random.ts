import type { Bnb4Arrays } from '../kernels/bnb4-shared/arrays.js';
import { DYNAMIC_MAP, FP4_CODE, NF4_CODE } from './code-tables.js';

export { DYNAMIC_MAP, FP4_CODE, NF4_CODE };

/** A small seeded generator (mulberry32) so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomWeightOptions {
  outFeatures: number;
  inFeatures: number;
  blocksize: number;
  nested?: boolean;
  code?: Float32Array;
  seed?: number;
}

/** Random packed bytes and scales with the layout of a real checkpoint (random bytes are valid 4-bit codes). */
export function randomBnb4Arrays(o: RandomWeightOptions): Bnb4Arrays {
  const rand = seededRandom(o.seed ?? 1);
  const n = o.outFeatures * o.inFeatures;
  const nb = Math.ceil(n / o.blocksize);
  const packed = new Uint8Array(Math.ceil(n / 2));
  for (let i = 0; i < packed.length; i++) packed[i] = Math.floor(rand() * 256);
  const nestedBlocksize = 256;
  if (!o.nested) {
    const absmax = new Float32Array(nb);
    for (let b = 0; b < nb; b++) absmax[b] = 0.01 + rand() * 0.2;
    return {
      packed,
      absmax,
      nestedAbsmax: null,
      nestedCode: null,
      code: o.code ?? NF4_CODE,
      ...shape(o),
      nestedBlocksize,
      offset: 0,
    };
  }
  const codes = new Uint8Array(nb);
  for (let b = 0; b < nb; b++) codes[b] = Math.floor(rand() * 256);
  const nestedAbsmax = new Float32Array(Math.ceil(nb / nestedBlocksize));
  for (let i = 0; i < nestedAbsmax.length; i++) nestedAbsmax[i] = 0.005 + rand() * 0.05;
  return {
    packed,
    absmax: codes,
    nestedAbsmax,
    nestedCode: DYNAMIC_MAP,
    code: o.code ?? NF4_CODE,
    ...shape(o),
    nestedBlocksize,
    offset: Math.fround(0.03 + rand() * 0.05),
  };
}

function shape(o: RandomWeightOptions): Pick<Bnb4Arrays, 'outFeatures' | 'inFeatures' | 'blocksize'> {
  return { outFeatures: o.outFeatures, inFeatures: o.inFeatures, blocksize: o.blocksize };
}

/** Activations with a few large outliers per row, like a transformer's. */
export function randomActivations(rows: number, columns: number, seed = 7): Float32Array {
  const rand = seededRandom(seed);
  const x = new Float32Array(rows * columns);
  for (let i = 0; i < x.length; i++) x[i] = (rand() * 2 - 1) * (rand() < 0.02 ? 20 : 1);
  return x;
}
