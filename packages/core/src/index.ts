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
  type ContractPackages,
  ModulePathError,
  NonFiniteWeightError,
  PeftError,
  RegistryError,
  SafetensorsError,
  ShapeMismatchError,
  SpecificationVersionError,
} from './errors.js';
export {
  type FrozenRightOptions,
  matMulBoth,
  matMulFrozenRight,
  TAKES_TRANSPOSED_RIGHT,
  transposedRightIsFree,
} from './fast-matmul.js';
export { type FrugalGradients, frugalGradients } from './frugal-gradients.js';
export { frugalAdd, frugalReshape, frugalScale } from './frugal-ops.js';
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
  LINEAR_FORMAT_SPECIFICATION_VERSIONS,
  type LinearFormat,
  type LinearFormatSpecificationVersion,
  loadLinear,
  readDenseLinear,
  registeredLinearFormats,
  registerLinearFormat,
  unregisterLinearFormat,
} from './linear-format.js';
export { Module, ModuleList } from './module.js';
export {
  checkOptionValue,
  type OptionSpec,
  type OptionType,
  optionFlag,
  parseOptionValue,
  resolveOptionValues,
} from './option-spec.js';
export { pythonFloatRepr, pythonJsonFloat } from './python-float.js';
export {
  assertQuantizedLinear,
  bitsPerParameter,
  QUANTIZED_LINEAR_SPECIFICATION_VERSIONS,
  type QuantizedLinear,
  type QuantizedLinearSpecificationVersion,
} from './quantized-linear.js';
export {
  getQuantizer,
  isOutputHead,
  QUANTIZER_SPECIFICATION_VERSIONS,
  type QuantizationConfigContext,
  type Quantizer,
  type QuantizerSpecificationVersion,
  quantizeLinears,
  registeredQuantizers,
  registerQuantizer,
  unregisterQuantizer,
} from './quantizer.js';
// PyTorch-compatible randomness (section owned by random/*)
export { type NormalOptions, randn } from './random/normal.js';
export { TORCH_DEFAULT_SEED, TorchGenerator, type TorchSeed } from './random/torch-generator.js';
export { type UniformMode, type UniformOptions, uniform_ } from './random/uniform.js';
// safetensors (section owned by safetensors/*)
export { openSafetensorsBlob } from './safetensors/blob.js';
export {
  MAX_HEADER_BYTES,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from './safetensors/header.js';
export type { SafetensorsMetadata, SerializeOptions } from './safetensors/layout.js';
export { parseSafetensors } from './safetensors/parse.js';
export { serializeSafetensors } from './safetensors/serialize.js';
export { type ByteRangeReader, openSafetensorsReader, type SafetensorsSource } from './safetensors/source.js';
export { MissingTensorError, stateDictSource, type TensorInfo, type TensorSource } from './tensor-source.js';
