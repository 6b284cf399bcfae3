// The user's own model folder and JSONL files, chosen in the page and handed to the worker as Blobs.
import { ConfigError, getQuantizer } from '@peft/core';
import {
  loadPretrained,
  type NamedBlob,
  type PretrainedFiles,
  pretrainedFilesFromBlobs,
  quantizeOnLoad,
} from '@peft/models';
import '@peft/quant-bnb4'; // a `*-bnb-4bit` folder's layers load as 4-bit layers
import { ChatTemplate, type DataRow, decodeJsonl, parseDataRows } from '@peft/training';
import type { EmitRunEvent } from '../finetune/events.js';
import type { OwnRunInputs } from '../finetune/run.js';
import { withReadProgress } from './read-progress.js';

/** What the page sends: the folder's files and the data files. */
export interface OwnFiles {
  model: NamedBlob[];
  train: NamedBlob;
  eval: NamedBlob | null;
}

/** A data file larger than this is refused before it is read (the page holds it whole while parsing). */
export const MAX_DATA_BYTES = 512 * 2 ** 20;

async function readRows(file: NamedBlob): Promise<DataRow[]> {
  if (file.blob.size > MAX_DATA_BYTES) {
    throw new ConfigError(
      `${file.name} is ${file.blob.size} bytes; the page reads data files of at most ${MAX_DATA_BYTES} bytes`,
    );
  }
  const text = decodeJsonl(new Uint8Array(await file.blob.arrayBuffer()), file.name);
  return parseDataRows(text, file.name);
}

/** The folder's chat template: chat_template.jinja, else tokenizer_config.json's "chat_template" (as transformers). */
async function chatTemplateOf(files: NamedBlob[], pretrained: PretrainedFiles): Promise<ChatTemplate | null> {
  const jinja = files.find((file) => basename(file.name) === 'chat_template.jinja');
  return ChatTemplate.fromFiles({
    tokenizerConfig: pretrained.tokenizerConfig ?? {},
    tokenizerJson: pretrained.tokenizer,
    jinja: jinja ? await jinja.blob.text() : null,
    where: jinja ? jinja.name : 'tokenizer_config.json',
  });
}

/** The file name of a path as a folder picker gives it ("my-model/config.json"). */
function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Reads the data files (one at a time), then builds the model from the folder: its JSON files are parsed and
 * each weight is read from its file only when the loader takes it, and quantized right then (`quantize`
 * other than "none"), so the weights are never held twice nor the whole model in float precision.
 */
export async function loadOwnFiles(
  files: OwnFiles,
  quantize: string,
  emit: EmitRunEvent,
): Promise<OwnRunInputs> {
  emit({ type: 'phase', text: `Reading ${files.train.name}${files.eval ? ` and ${files.eval.name}` : ''}` });
  const train = await readRows(files.train);
  const evalRows = files.eval ? await readRows(files.eval) : null;
  emit({ type: 'phase', text: 'Opening the model folder' });
  const pretrained = await pretrainedFilesFromBlobs(files.model);
  const total = pretrained.source.keys().length;
  const onLoad = quantize === 'none' ? null : quantizeOnLoad(getQuantizer(quantize));
  const quantizing = onLoad ? `, quantizing its linear layers to ${quantize.toUpperCase()}` : '';
  emit({ type: 'phase', text: `Loading ${total} tensors of ${pretrained.name ?? 'the model'}${quantizing}` });
  emit({ type: 'progress', done: 0, total, unit: 'tensors' });
  const source = withReadProgress(pretrained.source, (done) =>
    emit({ type: 'progress', done, total, unit: 'tensors' }),
  );
  const loaded = await loadPretrained({ ...pretrained, source }, onLoad ? { quantizeLinear: onLoad.quantizeLinear } : {});
  return {
    model: loaded.model,
    tokenizer: loaded.tokenizer,
    chatTemplate: await chatTemplateOf(files.model, pretrained),
    train,
    eval: evalRows,
    trainName: files.train.name,
    evalName: files.eval?.name ?? null,
    quantized: onLoad?.result ?? null,
  };
}
