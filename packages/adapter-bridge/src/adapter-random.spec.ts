import { ConfigError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  adapterDropout,
  adapterRandomNormal,
  adapterRandomState,
  adapterRandomUniform,
  restoreAdapterRandom,
  seedAdapterRandom,
} from './adapter-random.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);
afterEach(() => restoreAdapterRandom(null));

/** Three dropout masks and a uniform and a normal draw, in that order, as plain numbers. */
function drawSequence(): number[][] {
  return tf.tidy(() => {
    const x = tf.ones([64]);
    const masks = [0, 1, 2].map(() => Array.from(adapterDropout(x, 0.5).dataSync()));
    return [
      ...masks,
      Array.from(adapterRandomUniform([8], -1, 1).dataSync()),
      Array.from(adapterRandomNormal([8], 0, 2).dataSync()),
    ];
  });
}

describe('the adapter random stream', () => {
  it('repeats exactly for a seed, and differs between seeds and between draws', () => {
    seedAdapterRandom(7);
    const first = drawSequence();
    seedAdapterRandom(7);
    expect(drawSequence()).toEqual(first);
    expect(adapterRandomState()).toEqual({ seed: 7, draws: 5 });

    seedAdapterRandom(8);
    expect(drawSequence()).not.toEqual(first);
    // Successive masks of one stream are different masks, each scaling kept values by 1 / (1 - rate).
    expect(first[0]).not.toEqual(first[1]);
    expect(new Set(first[0])).toEqual(new Set([0, 2]));
  });

  it('continues from a saved position exactly as an uninterrupted stream does', () => {
    seedAdapterRandom(123);
    const straight = [...drawSequence(), ...drawSequence()];
    seedAdapterRandom(123);
    drawSequence();
    const saved = adapterRandomState()!;
    seedAdapterRandom(999); // something else happens in between
    drawSequence();
    restoreAdapterRandom(saved);
    expect(drawSequence()).toEqual(straight.slice(5));
  });

  it('is unseeded by default: draws work and no state is reported', () => {
    expect(adapterRandomState()).toBeNull();
    const values = tf.tidy(() => Array.from(adapterDropout(tf.ones([32]), 0.25).dataSync()));
    expect(values.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
    expect(adapterRandomState()).toBeNull();
  });

  it('draws nothing for a dropout rate of 0', () => {
    seedAdapterRandom(1);
    const x = tf.ones([4]);
    expect(adapterDropout(x, 0)).toBe(x);
    expect(adapterRandomState()).toEqual({ seed: 1, draws: 0 });
    x.dispose();
  });

  it('refuses a malformed saved state', () => {
    expect(() => restoreAdapterRandom({ seed: 1.5, draws: 0 })).toThrow(ConfigError);
    expect(() => restoreAdapterRandom({ seed: 1, draws: -1 })).toThrow(/non-negative integer draw count/);
  });
});
