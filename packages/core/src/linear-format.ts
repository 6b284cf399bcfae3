import * as tf from '@tensorflow/tfjs-core';
import { DenseLinear } from './dense-linear.js';
import { isFloatDType } from './dtype.js';
import { RegistryError, ShapeMismatchError, SpecificationVersionError } from './errors.js';
import { globalRegistry } from './global-registry.js';
import { toFloat32 } from './host-tensor.js';
import type { QuantizedLinear } from './quantized-linear.js';
import type { TensorSource } from './tensor-source.js';

/** The versions of the `LinearFormat` contract this package understands. */
export const LINEAR_FORMAT_SPECIFICATION_VERSIONS = ['v1'] as const;
export type LinearFormatSpecificationVersion = (typeof LINEAR_FORMAT_SPECIFICATION_VERSIONS)[number];

/**
 * How one storage format of linear weights is recognised and read from a state dict. A quantizer
 * package registers one; model loaders call `loadLinear` for every linear and never know which
 * formats exist. Writing is `QuantizedLinear.stateDict(prefix)`.
 */
export interface LinearFormat {
  readonly specificationVersion: LinearFormatSpecificationVersion;
  /** Unique name, e.g. "bnb4". */
  readonly name: string;
  /** True if the tensors under `prefix` (e.g. "model.layers.0.mlp.up_proj.") are in this format. */
  detect(source: TensorSource, prefix: string): boolean;
  read(source: TensorSource, prefix: string): Promise<QuantizedLinear>;
}

const formats = globalRegistry<LinearFormat>('linear-formats');

/**
 * Registers a format. Registering the same name again is a no-op, so two installed copies of a
 * quantizer package (both registering on import) coexist; pass `replace` to override on purpose.
 */
export function registerLinearFormat(format: LinearFormat, options: { replace?: boolean } = {}): void {
  if (!(LINEAR_FORMAT_SPECIFICATION_VERSIONS as readonly string[]).includes(format.specificationVersion)) {
    throw new SpecificationVersionError(
      `linear format ${JSON.stringify(format.name)}`,
      format.specificationVersion,
      LINEAR_FORMAT_SPECIFICATION_VERSIONS,
    );
  }
  if (formats.has(format.name) && !options.replace) return;
  formats.set(format.name, format);
}

export function unregisterLinearFormat(name: string): boolean {
  return formats.delete(name);
}

export function registeredLinearFormats(): string[] {
  return [...formats.keys()];
}

/** The registered format that claims the tensors under `prefix`, or `null` for plain dense weights. */
export function detectLinearFormat(source: TensorSource, prefix: string): LinearFormat | null {
  for (const format of formats.values()) {
    if (format.detect(source, prefix)) return format;
  }
  return null;
}

/** Loads `${prefix}weight` (+ `${prefix}bias`) through whichever registered format claims it, else as dense. */
export async function loadLinear(source: TensorSource, prefix: string): Promise<QuantizedLinear> {
  const format = detectLinearFormat(source, prefix);
  if (format) return format.read(source, prefix);
  return readDenseLinear(source, prefix);
}

export async function readDenseLinear(source: TensorSource, prefix: string): Promise<DenseLinear> {
  const key = `${prefix}weight`;
  if (!source.has(key)) {
    throw new RegistryError(
      `${source.name}: no tensor "${key}" and no registered linear format (${registeredLinearFormats().join(', ') || 'none'}) recognises "${prefix}"; ` +
        'if this is a quantized checkpoint, import the quantizer package that reads it (e.g. @peft/quant-bnb4)',
    );
  }
  const weight = await source.get(key);
  if (weight.shape.length !== 2 || !isFloatDType(weight.dtype)) {
    throw new ShapeMismatchError(
      `${source.name}: "${key}" is ${weight.dtype}${JSON.stringify(weight.shape)}, expected a 2-D floating tensor for a dense linear`,
    );
  }
  const biasKey = `${prefix}bias`;
  const bias = source.has(biasKey) ? await source.get(biasKey) : null;
  const [out, inF] = weight.shape as [number, number];
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== out)) {
    throw new ShapeMismatchError(
      `${source.name}: "${biasKey}" has shape ${JSON.stringify(bias.shape)}, expected [${out}]`,
    );
  }
  const w = tf.tensor2d(toFloat32(weight), [out, inF]);
  const b = bias ? tf.tensor1d(toFloat32(bias)) : null;
  try {
    return new DenseLinear(w, b, { storageDType: weight.dtype });
  } finally {
    tf.dispose(b ? [w, b] : [w]);
  }
}
