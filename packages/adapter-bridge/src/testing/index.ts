// Test helpers for method and quantizer authors (`@peft/adapter-bridge/testing`). Not for production use.

export { mutateAdapterFiles, seededRandom } from './adapter-fuzz.js';
export { finiteDifferenceGradient } from './finite-difference.js';
export { Int8RowsLinear } from './int8-rows-linear.js';
export { type BaseLayerFactory, TinyLlamaForCausalLM, type TinyLlamaOptions } from './tiny-llama.js';
export { type Forward, type MseTrainResult, mseLoss, regressionTask, trainMse } from './train.js';
