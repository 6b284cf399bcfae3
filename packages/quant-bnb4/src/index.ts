// Public surface of @peft/quant-bnb4. Nothing outside this file is API.

export {
  type Bnb4Bias,
  Bnb4Linear,
  type Bnb4LinearOptions,
  type Bnb4LinearQuantizeOptions,
} from './bnb4-linear.js';
export {
  dequantize4bit,
  dequantize4bitFloat32,
  dequantize4bitToHost,
  effectiveAbsmax,
} from './dequantize.js';
export { compressAbsmax, float32Mean, quantizeBlockwise8, recoverAbsmax } from './double-quant.js';
export { encodeDynamic8, encodeFp4, encodeNf4 } from './encode.js';
export { Bnb4FormatError } from './errors.js';
export { bnb4LinearFormat, registerBnb4 } from './linear-format.js';
export { type Bnb4QuantStateJson, decodeQuantStateJson, quantStateJsonText } from './quant-state-json.js';
export {
  type Bnb4QuantizationSettings,
  bnb4QuantizationConfig,
  parseBnb4QuantizationConfig,
  QUANTIZATION_CONFIG_FLOAT_FIELDS,
} from './quantization-config.js';
export { type Bnb4QuantizeOptions, quantize4bit } from './quantize.js';
export { type QuantizeModuleOptions, quantizeModule } from './quantize-module.js';
export { BNB4_QUANTIZER_OPTIONS, fp4Quantizer, nf4Quantizer, registerBnb4Quantizers } from './quantizer.js';
export { bnb4StateDict, hasBnb4QuantState, quantStateKey, readBnb4Tensor } from './state-dict.js';
export { bnb4StorageBytes } from './storage-bytes.js';
export { DYNAMIC_MAP_SIGNED, FP4_CODE, FP4_THRESHOLDS, NF4_CODE, NF4_THRESHOLDS } from './tables.js';
export {
  BNB4_BLOCKSIZES,
  BNB4_DTYPES,
  BNB4_NESTED_BLOCKSIZES,
  BNB4_QUANT_TYPES,
  type Bnb4DType,
  type Bnb4NestedState,
  type Bnb4QuantState,
  type Bnb4QuantType,
  type Bnb4Tensor,
  DEFAULT_BLOCKSIZE,
  NESTED_BLOCKSIZE,
} from './types.js';

// Registration on import, as PEFT's `__init__` does, so `loadLinear` reads bitsandbytes layers and the
// "nf4" / "fp4" quantizers are listed as soon as this package is imported. Idempotent across duplicate installed copies.
import { registerBnb4 } from './linear-format.js';
import { registerBnb4Quantizers } from './quantizer.js';

registerBnb4();
registerBnb4Quantizers();
