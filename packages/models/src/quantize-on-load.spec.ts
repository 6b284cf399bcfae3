import { isLinear, stateDictSource, toFloat32 } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.js';
import { loadLlama } from './load.js';
import { quantizeOnLoad } from './quantize-on-load.js';
import { int8Codes, int8TestQuantizer } from './test-support/int8-test-quantizer.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { TINY_CONFIGS, tinyStateDict } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

describe('quantizeOnLoad', () => {
  it('quantizes every projection but the output head while loading, with the quantizer and its options', async () => {
    const config = parseLlamaConfig(TINY_CONFIGS['llama GQA untied']!);
    const dict = tinyStateDict(config, 3);
    const { quantizeLinear, result } = quantizeOnLoad(int8TestQuantizer, { levels: 7 });
    const model = await loadLlama(stateDictSource(dict, 'tiny'), config, { quantizeLinear });
    try {
      const schemes = [...model.namedModules()]
        .filter(([, m]) => isLinear(m))
        .map(([path, m]) => [path, isLinear(m) ? m.layer.scheme : ''] as const);
      // 7 projections per layer in 2 layers; the untied lm_head stays dense.
      expect(schemes.filter(([, s]) => s === 'int8-test').length).toBe(14);
      expect(schemes.filter(([, s]) => s === 'dense').map(([p]) => p)).toEqual(['lm_head']);
      expect(result.quantizer).toBe('int8-test');
      expect(result.options).toEqual({ levels: 7 });
      expect(result.paths).toHaveLength(14);
      expect(result.paths).not.toContain('lm_head');

      // The layer holds the codes the independent reference gives for the stored weight (levels 7, not 127).
      const path = 'model.layers.1.mlp.down_proj';
      const weight = dict.get(`${path}.weight`)!;
      const [out, inFeatures] = weight.shape as [number, number];
      const { codes, scales } = int8Codes(toFloat32(weight), out, inFeatures, 7);
      const expected = Float32Array.from(codes, (c, i) => c * scales[Math.floor(i / inFeatures)]!);
      const layer = [...model.namedModules()].find(([p]) => p === path)![1];
      if (!isLinear(layer)) throw new Error(`${path} is not a linear layer`);
      const actual = layer.layer.dequantize();
      expect(Array.from(actual.dataSync())).toEqual(Array.from(expected));
      actual.dispose();

      // Bytes: float32 dense weights in, one byte per weight plus a float32 scale per row out.
      const dense = result.paths.reduce(
        (sum, p) => sum + dict.get(`${p}.weight`)!.shape.reduce((a, b) => a * b) * 4,
        0,
      );
      expect(result.denseBytes).toBe(dense);
      expect(result.quantizedBytes).toBeLessThan(dense / 3);
    } finally {
      model.dispose();
    }
  });

  it('leaves no tensor behind for the dense copies it made', async () => {
    const config = parseLlamaConfig(TINY_CONFIGS['llama GQA untied']!);
    const before = tf.memory().numTensors;
    const { quantizeLinear } = quantizeOnLoad(int8TestQuantizer);
    const model = await loadLlama(stateDictSource(tinyStateDict(config, 4), 'tiny'), config, {
      quantizeLinear,
    });
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
