import { describe, expect, it } from 'vitest';
import { softwareAdapterName } from './software-adapter.js';

describe('softwareAdapterName', () => {
  it('names SwiftShader as headless Chromium 150 reports it (info.isFallbackAdapter, architecture "swiftshader")', () => {
    const adapter = {
      info: {
        vendor: 'google',
        architecture: 'swiftshader',
        device: '',
        description: '',
        isFallbackAdapter: true,
      },
    };
    expect(softwareAdapterName(adapter)).toBe('SwiftShader');
  });

  it('names SwiftShader from older Chromium (isFallbackAdapter on the adapter, name in the description)', () => {
    expect(
      softwareAdapterName({
        isFallbackAdapter: true,
        info: { vendor: 'Google', description: 'SwiftShader Device (Subzero)' },
      }),
    ).toBe('SwiftShader');
    expect(softwareAdapterName({ info: { device: 'SwiftShader' } })).toBe('SwiftShader');
  });

  it('recognises other software rasterisers by name', () => {
    expect(
      softwareAdapterName({ info: { vendor: 'mesa', architecture: 'llvmpipe (LLVM 15.0.6, 256 bits)' } }),
    ).toBe('llvmpipe');
    expect(softwareAdapterName({ info: { description: 'Microsoft Basic Render Driver' } })).toBe(
      'Microsoft Basic Render Driver',
    );
  });

  it('trusts the fallback flag on its own, on the adapter or on its info', () => {
    expect(softwareAdapterName({ isFallbackAdapter: true })).toBe('a fallback adapter');
    expect(softwareAdapterName({ info: { vendor: 'acme', isFallbackAdapter: true } })).toBe(
      'a fallback adapter',
    );
  });

  it('passes hardware adapters, including ones that report nothing', () => {
    expect(
      softwareAdapterName({ info: { vendor: 'nvidia', architecture: 'ampere', isFallbackAdapter: false } }),
    ).toBeNull();
    expect(
      softwareAdapterName({ isFallbackAdapter: false, info: { vendor: 'apple', architecture: 'metal-3' } }),
    ).toBeNull();
    expect(softwareAdapterName({ info: { vendor: 'google', architecture: '' } })).toBeNull();
    expect(softwareAdapterName({})).toBeNull();
  });
});
