// Entry point `@peft/training/adapters` (browser-safe): PEFT adapters in the training loop, for apps that
// load models themselves (the browser app); '@peft/training/node' re-exports it with folder loading.
export {
  attachNewAdapter,
  batchTensors,
  type CausalLanguageModel,
  evaluableModel,
  RunRandomStream,
  trainableAdapter,
} from './adapters.js';
