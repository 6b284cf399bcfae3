// Public surface of @peft/core. Nothing outside this file is API.

export { applyToLastAxis, DenseLinear, type DenseLinearOptions } from './dense-linear.js';
export {
  bytesPerElement,
  DTYPES,
  type DType,
  DTypeConversionError,
  isDType,
  isFloatDType,
  numElements,
} from './dtype.js';
export {
  ConfigError,
  ModulePathError,
  NonFiniteWeightError,
  PeftError,
  RegistryError,
  SafetensorsError,
  ShapeMismatchError,
  SpecificationVersionError,
} from './errors.js';
export { globalRegistry } from './global-registry.js';
export { bf16BitsToFloat, f16BitsToFloat, floatToBf16Bits, floatToF16Bits } from './half.js';
export {
  fromFloat32,
  fromIntegers,
  type HostTensor,
  hostTensor,
  type StateDict,
  toFloat32,
} from './host-tensor.js';
export { isLinear, Linear, type LinearLike } from './linear.js';
export {
  detectLinearFormat,
  type LinearFormat,
  loadLinear,
  readDenseLinear,
  registeredLinearFormats,
  registerLinearFormat,
  unregisterLinearFormat,
} from './linear-format.js';
export { Module, ModuleList } from './module.js';
export {
  assertQuantizedLinear,
  bitsPerParameter,
  QUANTIZED_LINEAR_SPECIFICATION_VERSIONS,
  type QuantizedLinear,
  type QuantizedLinearSpecificationVersion,
} from './quantized-linear.js';
export { MissingTensorError, stateDictSource, type TensorInfo, type TensorSource } from './tensor-source.js';

// safetensors (section owned by safetensors/*)

// PyTorch-compatible randomness (section owned by random/*)
