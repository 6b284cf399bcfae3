import { TorchGenerator } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { argmax, pickToken, type SamplingOptions, uniformDouble } from './sampling.js';

const SAMPLE: SamplingOptions = { doSample: true, temperature: 1, topK: 0, topP: 1 };

function frequencies(logits: number[], options: SamplingOptions, draws: number, seed = 7): number[] {
  const generator = new TorchGenerator(seed);
  const counts = new Array<number>(logits.length).fill(0);
  const row = Float32Array.from(logits);
  for (let i = 0; i < draws; i++) counts[pickToken(row, options, generator)]!++;
  return counts.map((c) => c / draws);
}

function softmax(logits: number[], temperature = 1): number[] {
  const scaled = logits.map((l) => l / temperature);
  const max = Math.max(...scaled);
  const e = scaled.map((s) => Math.exp(s - max));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

describe('pickToken', () => {
  it('greedy is the first argmax', () => {
    expect(argmax(Float32Array.from([0.1, 3, -2, 3]))).toBe(1);
    expect(
      pickToken(Float32Array.from([5, 1, 7, 7]), { ...SAMPLE, doSample: false }, new TorchGenerator(0)),
    ).toBe(2);
  });

  it('samples from the softmax (temperature 1 and 2)', () => {
    // Probabilities ~ [0.57, 0.21, 0.16, 0.06]; 20000 draws give a standard error under 0.004.
    const logits = [2, 1, 0.7, -0.3];
    for (const temperature of [1, 2]) {
      const observed = frequencies(logits, { ...SAMPLE, temperature }, 20000);
      const expected = softmax(logits, temperature);
      for (const [i, p] of observed.entries()) expect(Math.abs(p - expected[i]!)).toBeLessThan(0.015);
    }
  });

  it('top-k keeps the k largest and renormalises among them', () => {
    const logits = [0.2, 3, 1, 2.5, -1, 0.9];
    const observed = frequencies(logits, { ...SAMPLE, topK: 2 }, 20000);
    const kept = softmax([3, 2.5]);
    expect(observed[1]).toBeCloseTo(kept[0]!, 1);
    expect(observed[3]).toBeCloseTo(kept[1]!, 1);
    expect(observed.filter((_, i) => i !== 1 && i !== 3).every((p) => p === 0)).toBe(true);
  });

  it('top-p keeps the smallest most-likely set reaching p (transformers: drop while cumulative ≤ 1 - p)', () => {
    const probabilities = [0.5, 0.3, 0.15, 0.05];
    const logits = probabilities.map(Math.log);
    const observed = frequencies(logits, { ...SAMPLE, topP: 0.75 }, 20000);
    expect(observed[2]).toBe(0);
    expect(observed[3]).toBe(0);
    expect(observed[0]).toBeCloseTo(0.5 / 0.8, 1);
    // The most likely token survives even when it alone exceeds p.
    expect(frequencies(logits, { ...SAMPLE, topP: 0.01 }, 200)).toEqual([1, 0, 0, 0]);
  });

  it('uniformDouble is in [0, 1) and uses the generator deterministically', () => {
    const a = new TorchGenerator(42);
    const b = new TorchGenerator(42);
    for (let i = 0; i < 1000; i++) {
      const u = uniformDouble(a);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      expect(uniformDouble(b)).toBe(u);
    }
  });
});
