// A page built with Vite from the installed tarballs: a bitsandbytes NF4 layer with a VeRA adapter,
// run forward on WebGPU and checked against plain arithmetic on the dequantized weight plus ΔW.
// '@peft/vera' is imported only for its registration, so a bundler that dropped the package's side
// effect (a wrong `sideEffects` field) would leave VERA unregistered and fail here.
import '@peft/vera';
import { getPeftModel, registeredPeftTypes } from '@peft/adapter-bridge';
import { setupBackend } from '@peft/backends';
import { Linear, Module } from '@peft/core';
import { Bnb4Linear, dequantize4bitFloat32, quantize4bit } from '@peft/quant-bnb4';
import * as tf from '@tensorflow/tfjs-core';

class OneLayer extends Module {
  constructor(layer: Bnb4Linear) {
    super();
    this.registerModule('proj', new Linear(layer));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.child<Linear>('proj').forward(x);
  }
}

export interface PageReport {
  backend: string;
  peftTypes: string[];
  scheme: string;
  outputShape: number[];
  /** max |y - expected| / max |expected|. */
  relativeError: number;
  adapterChangesOutput: boolean;
  leakedTensors: number;
}

export default async function run(): Promise<PageReport> {
  const { backend } = await setupBackend('webgpu');
  const before = tf.memory().numTensors;
  const [out, inF, rows] = [24, 64, 3];
  const weight = Float32Array.from({ length: out * inF }, (_, i) => Math.sin(i * 0.37) / 4);
  const tensor = quantize4bit(weight, { shape: [out, inF], quantType: 'nf4', doubleQuant: true });
  const model = new OneLayer(Bnb4Linear.fromTensor(tensor));
  // A plain adapter_config object: the registry finds the method by peft_type.
  const config = { peft_type: 'VERA', r: 4, target_modules: ['proj'], init_weights: false };
  const peft = getPeftModel(model, config);
  const xHost = Float32Array.from({ length: rows * inF }, (_, i) => Math.cos(i * 0.11));
  const x = tf.tensor2d(xHost, [rows, inF]);
  const y = model.forward(x);
  const got = (await y.data()) as Float32Array;
  const yPlain = peft.withAdaptersDisabled(() => model.forward(x));
  const plain = (await yPlain.data()) as Float32Array;
  const adapted = peft.adapterLayers()[0]![1];
  const delta = adapted.adapter('default')!.deltaWeight();
  const dw = (await delta.data()) as Float32Array;
  const w = dequantize4bitFloat32(tensor);
  let worst = 0;
  let scale = 0;
  let changed = false;
  for (let m = 0; m < rows; m++) {
    for (let n = 0; n < out; n++) {
      let s = 0;
      for (let k = 0; k < inF; k++) s += xHost[m * inF + k]! * (w[n * inF + k]! + dw[n * inF + k]!);
      worst = Math.max(worst, Math.abs(got[m * out + n]! - s));
      scale = Math.max(scale, Math.abs(s));
      changed ||= Math.abs(got[m * out + n]! - plain[m * out + n]!) > 1e-3;
    }
  }
  const report: PageReport = {
    backend,
    peftTypes: registeredPeftTypes(),
    scheme: adapted.base.scheme,
    outputShape: y.shape,
    relativeError: worst / scale,
    adapterChangesOutput: changed,
    leakedTensors: 0,
  };
  tf.dispose([x, y, yPlain, delta]);
  peft.dispose();
  report.leakedTensors = tf.memory().numTensors - before;
  return report;
}
