import { type Bnb4Weights, bnb4WeightsFromArrays } from '@peft/backends';

// The NF4 code table of bitsandbytes (its serialised quant_map); benchmark weights are otherwise random bytes.
const NF4 = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
];

/** A random NF4 weight with double quantization (the common QLoRA layout), blocksize 64. */
export function randomNf4Weights(outFeatures: number, inFeatures: number, blocksize = 64): Bnb4Weights {
  const n = outFeatures * inFeatures;
  const nb = Math.ceil(n / blocksize);
  const packed = new Uint8Array(Math.ceil(n / 2));
  for (let i = 0; i < packed.length; i++) packed[i] = (Math.random() * 256) | 0;
  const codes = new Uint8Array(nb);
  for (let i = 0; i < nb; i++) codes[i] = (Math.random() * 256) | 0;
  const nestedCode = Float32Array.from({ length: 256 }, (_, i) => (i - 127.5) / 128).sort();
  return bnb4WeightsFromArrays({
    packed,
    absmax: codes,
    nestedAbsmax: Float32Array.from({ length: Math.ceil(nb / 256) }, () => 0.01 + Math.random() * 0.02),
    nestedCode,
    code: Float32Array.from(NF4),
    outFeatures,
    inFeatures,
    blocksize,
    nestedBlocksize: 256,
    offset: 0.03,
  });
}
