// Quantizers by name ("nf4", "fp4", ...), so an application can list them, offer their options and
// quantize a model without knowing which packages provide them. A quantizer package registers one on
// import, next to the linear format that reads what it writes.
import { RegistryError, SpecificationVersionError } from './errors.js';
import { globalRegistry } from './global-registry.js';
import { isLinear } from './linear.js';
import type { Module } from './module.js';
import type { OptionSpec } from './option-spec.js';
import type { QuantizedLinear } from './quantized-linear.js';

/** The versions of the `Quantizer` contract this package understands. */
export const QUANTIZER_SPECIFICATION_VERSIONS = ['v1'] as const;
export type QuantizerSpecificationVersion = (typeof QUANTIZER_SPECIFICATION_VERSIONS)[number];

/** What an application knows about a quantized model that a `quantization_config` may record. */
export interface QuantizationConfigContext {
  /** Linear layers left unquantized on purpose (beyond the output head), or null for the default. */
  readonly skippedModules?: readonly string[] | null;
  /** The model's float dtype from its config.json (`torch_dtype`), e.g. "bfloat16". */
  readonly modelDtype?: string;
}

/**
 * A way to quantize dense linear layers, by name. Options are plain objects keyed by `options[].name`;
 * `resolveOptions` fills defaults and validates, and every other method takes resolved options.
 */
export interface Quantizer {
  readonly specificationVersion: QuantizerSpecificationVersion;
  /** Command-line and library name, e.g. "nf4", "fp4"; unique across registered quantizers. */
  readonly name: string;
  /** The npm package that provides it, for messages (e.g. "@peft/quant-bnb4"). */
  readonly packageName: string;
  /** One line for help text. */
  readonly description: string;
  /** Every option `resolveOptions` accepts (e.g. blocksize, doubleQuant). */
  readonly options: readonly OptionSpec[];
  /** Defaults filled in and every value checked; an unknown key or bad value is a ConfigError naming it. */
  resolveOptions(input: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>>;
  /**
   * Bytes of one quantized [out, in] weight and its statistics (not the bias): `disk` as the format's
   * tensors are saved, `memory` as the layer holds them (its `storageBytes`).
   */
  storageBytes(
    outFeatures: number,
    inFeatures: number,
    options: Readonly<Record<string, unknown>>,
  ): { disk: number; memory: number };
  /**
   * A quantized copy of `layer` (weight and bias); the caller disposes the old layer. `name` (the
   * layer's path) is for error messages.
   */
  quantize(
    layer: QuantizedLinear,
    options: Readonly<Record<string, unknown>>,
    name?: string,
  ): QuantizedLinear;
  /** config.json's `quantization_config` for a model quantized with these options, as transformers writes it. */
  quantizationConfig(
    options: Readonly<Record<string, unknown>>,
    context?: QuantizationConfigContext,
  ): Record<string, unknown>;
  /**
   * Fields of `quantizationConfig` that Python requires to be floats: a JSON writer must spell them
   * with a decimal point (6.0, not 6), which JavaScript's does not do by itself.
   */
  readonly quantizationConfigFloatFields?: readonly string[];
}

const quantizers = globalRegistry<Quantizer>('quantizers');

/**
 * Registers a quantizer under its name. Registering the same name again is a no-op, so two installed
 * copies of a quantizer package (both registering on import) coexist; pass `replace` to override.
 */
export function registerQuantizer(quantizer: Quantizer, options: { replace?: boolean } = {}): void {
  if (!(QUANTIZER_SPECIFICATION_VERSIONS as readonly string[]).includes(quantizer.specificationVersion)) {
    throw new SpecificationVersionError(
      `quantizer ${JSON.stringify(quantizer.name)} from ${quantizer.packageName}`,
      quantizer.specificationVersion,
      QUANTIZER_SPECIFICATION_VERSIONS,
      { host: '@peft/core', implementer: quantizer.packageName },
    );
  }
  if (quantizers.has(quantizer.name) && !options.replace) return;
  quantizers.set(quantizer.name, quantizer);
}

export function unregisterQuantizer(name: string): boolean {
  return quantizers.delete(name);
}

/** Every registered quantizer, in registration order. */
export function registeredQuantizers(): Quantizer[] {
  return [...quantizers.values()];
}

/** The quantizer registered as `name`; an unknown name lists the registered ones. */
export function getQuantizer(name: string): Quantizer {
  const quantizer = quantizers.get(name);
  if (quantizer) return quantizer;
  const known = [...quantizers.keys()];
  throw new RegistryError(
    `no quantizer named ${JSON.stringify(name)} is registered (registered: ${known.length ? known.join(', ') : 'none'}); ` +
      "install the package that provides it and import it first (e.g. import '@peft/quant-bnb4' for nf4 and fp4)",
  );
}

const OUTPUT_HEAD = /(^|\.)lm_head$/;

/** The default of `quantizeLinears`: leave the output head in float precision, as transformers does. */
export function isOutputHead(path: string): boolean {
  return OUTPUT_HEAD.test(path);
}

/**
 * Quantizes, in place, every dense `Linear` leaf of a module tree (scheme "dense") with `quantizer`,
 * except those `skip` picks (default: the output head, `lm_head`). Layers are replaced one at a time
 * and each dense layer is disposed as soon as its replacement exists, so the extra memory at any
 * moment is one layer. Returns the dotted paths of the layers it quantized.
 */
export function quantizeLinears(
  root: Module,
  quantizer: Quantizer,
  options: Readonly<Record<string, unknown>>,
  skip: (path: string) => boolean = isOutputHead,
): string[] {
  const resolved = quantizer.resolveOptions(options);
  const targets = [...root.namedModules()].filter(
    ([path, module]) => isLinear(module) && module.layer.scheme === 'dense' && !skip(path),
  );
  const quantized: string[] = [];
  for (const [path, module] of targets) {
    if (!isLinear(module)) continue;
    // replaceLayer disposes the dense layer it replaces.
    module.replaceLayer(quantizer.quantize(module.layer, resolved, path));
    quantized.push(path);
  }
  return quantized;
}
