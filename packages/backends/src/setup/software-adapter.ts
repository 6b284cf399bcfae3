// Recognises a WebGPU adapter that is a CPU emulation (Chromium's SwiftShader, or any adapter the browser marks
// as a fallback). Such an adapter runs WebGPU shaders on the CPU, many times slower than the wasm backend, so
// `setupBackend('auto')` passes it over.

/** The parts of a `GPUAdapter` (and its `GPUAdapterInfo`) this check reads; all optional across browsers. */
export interface AdapterLike {
  /** Older Chromium (before 136) and the WebGPU spec of 2023: on the adapter itself. */
  readonly isFallbackAdapter?: boolean;
  readonly info?: AdapterInfoLike;
}

export interface AdapterInfoLike {
  /** Newer Chromium: on `adapter.info`. */
  readonly isFallbackAdapter?: boolean;
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
}

/** Names a software rasteriser wears in adapter info (Chromium 150 reports vendor "google", architecture "swiftshader"). */
const SOFTWARE_NAMES = [
  { pattern: /swiftshader/i, name: 'SwiftShader' },
  { pattern: /llvmpipe/i, name: 'llvmpipe' },
  { pattern: /lavapipe/i, name: 'lavapipe' },
  { pattern: /microsoft basic render/i, name: 'Microsoft Basic Render Driver' },
];

/**
 * What software adapter `adapter` is ("SwiftShader", or "a fallback adapter" when the browser says so without a
 * name), or null for a hardware adapter.
 */
export function softwareAdapterName(adapter: AdapterLike): string | null {
  const info = adapter.info ?? {};
  const text = [info.vendor, info.architecture, info.device, info.description]
    .filter((part): part is string => typeof part === 'string')
    .join(' ');
  const named = SOFTWARE_NAMES.find(({ pattern }) => pattern.test(text));
  if (named) return named.name;
  if (adapter.isFallbackAdapter === true || info.isFallbackAdapter === true) return 'a fallback adapter';
  return null;
}
