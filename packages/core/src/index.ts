// Public surface of @peft/core. Nothing outside this file is API.

export {
  PeftError,
  SafetensorsError,
  ShapeMismatchError,
  ModulePathError,
  ConfigError,
  NonFiniteWeightError,
  RegistryError,
  SpecificationVersionError,
} from './errors.js';
export { DTYPES, type DType, isDType, bytesPerElement, isFloatDType, numElements, DTypeConversionError } from './dtype.js';
export { bf16BitsToFloat, floatToBf16Bits, f16BitsToFloat, floatToF16Bits } from './half.js';
export { type HostTensor, type StateDict, hostTensor, toFloat32, fromFloat32, fromIntegers } from './host-tensor.js';
export {
  type QuantizedLinear,
  type QuantizedLinearSpecificationVersion,
  QUANTIZED_LINEAR_SPECIFICATION_VERSIONS,
  assertQuantizedLinear,
  bitsPerParameter,
} from './quantized-linear.js';
export { DenseLinear, type DenseLinearOptions, applyToLastAxis } from './dense-linear.js';
export { Module } from './module.js';
export { Linear, type LinearLike, isLinear } from './linear.js';
export { globalRegistry } from './global-registry.js';
export { type TensorSource, type TensorInfo, MissingTensorError, stateDictSource } from './tensor-source.js';
export {
  type LinearFormat,
  registerLinearFormat,
  unregisterLinearFormat,
  registeredLinearFormats,
  detectLinearFormat,
  loadLinear,
  readDenseLinear,
} from './linear-format.js';

// safetensors (section owned by safetensors/*)

// PyTorch-compatible randomness (section owned by random/*)
