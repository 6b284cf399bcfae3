import { createHash } from 'node:crypto';
import { getPeftModel, type PeftWarning, saveAdapterFiles, setWarningHandler } from '@peft/adapter-bridge';
import { DenseLinear, Linear, Module, parseSafetensors } from '@peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import golden from './fixtures/vera_projections.json' with { type: 'json' };
import { veraConfig } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);
setWarningHandler((_w: PeftWarning) => {});

/** Two linear layers whose LOGICAL shapes make (max_out, max_in) what a golden case needs. */
class TwoLayers extends Module {
  constructor(maxOut: number, maxIn: number) {
    super();
    const layer = (out: number, inF: number) =>
      new Linear(DenseLinear.fromArray(new Float32Array(out * inF), out, inF));
    this.registerModule('wide', layer(Math.max(1, maxOut - 1), maxIn));
    this.registerModule('tall', layer(maxOut, Math.max(1, maxIn - 1)));
  }
}

type Mode = 'fma' | 'nofma';
type GoldenMatrix = { shape: number[]; sha256_f32le: string; values_hex?: string[] };

function hex(values: Float32Array): string[] {
  const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
  return Array.from({ length: values.length }, (_, i) =>
    view
      .getUint32(i * 4, true)
      .toString(16)
      .padStart(8, '0'),
  );
}

async function savedProjections(seed: number, r: number, maxIn: number, maxOut: number, mode: Mode) {
  const model = new TwoLayers(maxOut, maxIn);
  const peft = getPeftModel(
    model,
    veraConfig({
      r,
      projection_prng_key: seed,
      projection_prng_mode: mode,
      target_modules: ['wide', 'tall'],
    }),
  );
  const st = parseSafetensors(saveAdapterFiles(peft).get('adapter_model.safetensors')!);
  const [a, b] = [await st.get('base_model.vera_A'), await st.get('base_model.vera_B')];
  peft.dispose();
  return { a, b };
}

describe('VeRA projections are bit-for-bit those PEFT draws from projection_prng_key', () => {
  for (const c of golden.cases) {
    for (const mode of ['fma', 'nofma'] as const) {
      it(`seed ${c.seed} r ${c.r} (${c.max_out} x ${c.max_in}) ${mode}`, async () => {
        const expected = c[mode] as { A: GoldenMatrix; B: GoldenMatrix };
        const { a, b } = await savedProjections(c.seed_u32, c.r, c.max_in, c.max_out, mode);
        expect(a.shape).toEqual(expected.A.shape);
        expect(b.shape).toEqual(expected.B.shape);
        expect(createHash('sha256').update(a.data).digest('hex')).toBe(expected.A.sha256_f32le);
        expect(createHash('sha256').update(b.data).digest('hex')).toBe(expected.B.sha256_f32le);
        if (expected.A.values_hex) {
          expect(hex(new Float32Array(a.data.slice().buffer))).toEqual(expected.A.values_hex);
          expect(hex(new Float32Array(b.data.slice().buffer))).toEqual(expected.B.values_hex);
        }
      });
    }
  }
});
