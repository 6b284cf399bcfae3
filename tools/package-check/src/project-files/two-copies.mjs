// Two installed copies of @peft/core, @peft/adapter-bridge, @peft/vera and @peft/quant-bnb4 in one
// application (the second ones under npm aliases). Registrations made through either copy must be
// visible through the other, and adapters and quantized layers must round-trip across them.
import assert from 'node:assert/strict';
import * as bridge from '@peft/adapter-bridge';
import { TinyLlamaForCausalLM } from '@peft/adapter-bridge/testing';
import { setupBackend } from '@peft/backends';
import * as core from '@peft/core';
import * as bnb4 from '@peft/quant-bnb4';
import * as vera from '@peft/vera';
import * as tf from '@tensorflow/tfjs-core';
import * as bridgeCopy from 'adapter-bridge-copy';
import * as coreCopy from 'core-copy';
import * as bnb4Copy from 'quant-bnb4-copy';
import * as veraCopy from 'vera-copy';

await setupBackend('cpu');
const report = {};

// They really are separate module instances.
assert.notEqual(core.Linear, coreCopy.Linear);
assert.notEqual(bridge.registerPeftMethod, bridgeCopy.registerPeftMethod);
assert.notEqual(vera.veraMethod, veraCopy.veraMethod);
assert.notEqual(bnb4.Bnb4Linear, bnb4Copy.Bnb4Linear);

// Both copies of each package registered on import without an error; the registries are shared.
report.peftTypes = bridge.registeredPeftTypes();
report.peftTypesFromCopy = bridgeCopy.registeredPeftTypes();
report.linearFormats = core.registeredLinearFormats();
report.linearFormatsFromCopy = coreCopy.registeredLinearFormats();
assert.equal(bridgeCopy.getPeftMethod('VERA').packageName, '@peft/vera');

// An adapter made with one copy's config and bridge loads through the other copy's bridge.
const model = new TinyLlamaForCausalLM();
const peft = bridgeCopy.getPeftModel(
  model,
  veraCopy.veraConfig({ r: 4, target_modules: 'all-linear', init_weights: false }),
);
const x = tf.randomNormal([2, 16], 0, 1, 'float32', 3);
const expected = Array.from(model.forward(x).dataSync());
const files = bridgeCopy.saveAdapterFiles(peft);
const fresh = new TinyLlamaForCausalLM();
await bridge.peftModelFromFiles(fresh, files);
report.adapterRoundTripMaxDiff = Math.max(
  ...Array.from(fresh.forward(x).dataSync(), (v, i) => Math.abs(v - expected[i])),
);

// A bitsandbytes state dict written by one quantizer copy loads through the other core copy's registry.
const weight = Float32Array.from({ length: 8 * 64 }, (_, i) => Math.sin(i) / 3);
const tensor = bnb4Copy.quantize4bit(weight, { shape: [8, 64] });
const source = coreCopy.stateDictSource(bnb4Copy.bnb4StateDict(tensor, 'layer.'), 'copy state dict');
const layer = await core.loadLinear(source, 'layer.');
report.loadedScheme = layer.scheme;
report.loadedShape = [layer.outFeatures, layer.inFeatures];
const dequantized = layer.dequantize();
const reference = bnb4.dequantize4bitFloat32(tensor);
report.dequantizeMaxDiff = Math.max(
  ...Array.from(dequantized.dataSync(), (v, i) => Math.abs(v - reference[i])),
);
// The module tree recognises a Linear from the other core copy (a brand, not instanceof).
report.linearBrandAcrossCopies = core.isLinear(new coreCopy.Linear(layer));

// Errors carry stable codes, which is what to test across copies (instanceof sees one copy's class).
try {
  bridgeCopy.getPeftMethod('NOPE');
} catch (error) {
  report.unknownTypeError = {
    code: error.code,
    message: error.message,
    instanceofCore: error instanceof core.RegistryError,
    instanceofCoreCopy: error instanceof coreCopy.RegistryError,
  };
}
tf.dispose([x, dequantized]);
console.log(JSON.stringify(report));
