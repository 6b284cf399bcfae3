import { modelInfo } from './model-info.js';
import type { PeftModel } from './peft-model.js';

/** The model card PEFT's `save_pretrained` writes beside the adapter(s), in the save folder's root. */
export const MODEL_CARD_NAME = 'README.md';

/**
 * Marks a card as written here: saving again refreshes a card that carries it and leaves any other
 * README.md (one the user wrote) untouched.
 */
export const MODEL_CARD_MARKER =
  '<!-- peft.js: generated model card; remove this line to keep your edits -->';

/** The Hub's `pipeline_tag` for each PEFT task type. */
const PIPELINE_TAGS: Readonly<Record<string, string>> = {
  CAUSAL_LM: 'text-generation',
  SEQ_2_SEQ_LM: 'text2text-generation',
  SEQ_CLS: 'text-classification',
  TOKEN_CLS: 'token-classification',
  QUESTION_ANS: 'question-answering',
  FEATURE_EXTRACTION: 'feature-extraction',
};

/** A YAML scalar: plain when it cannot be misread, else double-quoted (JSON escapes are YAML's). */
function yamlScalar(value: string): string {
  const plain = /^[A-Za-z0-9_][A-Za-z0-9_./@+-]*(?::[A-Za-z0-9_./@+-]+)*$/.test(value);
  return plain && !/^(true|false|yes|no|on|off|null|~|[-+]?[0-9.]+(e[-+]?[0-9]+)?)$/i.test(value)
    ? value
    : JSON.stringify(value);
}

/** The base model the adapters were trained on, as their configs or the model name it. */
function baseModelOf(peft: PeftModel): string | undefined {
  for (const config of peft.peftConfig.values()) {
    if (config.base_model_name_or_path) return config.base_model_name_or_path;
  }
  return modelInfo(peft.model).nameOrPath;
}

export interface ModelCardFacts {
  readonly baseModel: string | undefined;
  /** Lower-case method names, e.g. ["vera"]. */
  readonly methods: readonly string[];
  readonly adapters: readonly string[];
  readonly pipelineTag: string | undefined;
}

function factsOf(peft: PeftModel, adapterNames?: readonly string[]): ModelCardFacts {
  const names = adapterNames ? [...adapterNames] : [...peft.peftConfig.keys()];
  const configs = names.map((n) => peft.requireAdapter(n));
  const taskType = configs.find((c) => c.task_type !== null)?.task_type ?? undefined;
  return {
    baseModel: baseModelOf(peft),
    methods: [...new Set(configs.map((c) => c.peft_type.toLowerCase()))].sort(),
    adapters: names,
    pipelineTag: taskType === undefined ? undefined : PIPELINE_TAGS[taskType],
  };
}

/**
 * The `README.md` PEFT's `save_pretrained` writes: YAML front matter the Hugging Face Hub reads
 * (`library_name: peft`, `base_model` and a `base_model:adapter:<base>` tag when the base is known,
 * the method as a tag, `pipeline_tag` from the task type), then a short description.
 */
export function adapterModelCard(peft: PeftModel, adapterNames?: readonly string[]): string {
  const facts = factsOf(peft, adapterNames);
  const tags = [
    ...(facts.baseModel === undefined ? [] : [`base_model:adapter:${facts.baseModel}`]),
    ...facts.methods,
    'peft-js',
  ];
  const front = [
    '---',
    ...(facts.baseModel === undefined ? [] : [`base_model: ${yamlScalar(facts.baseModel)}`]),
    'library_name: peft',
    ...(facts.pipelineTag === undefined ? [] : [`pipeline_tag: ${facts.pipelineTag}`]),
    'tags:',
    ...tags.map((t) => `- ${yamlScalar(t)}`),
    '---',
  ];
  const methods = facts.methods.map((m) => m.toUpperCase()).join(', ');
  const adapters = facts.adapters.map((a) =>
    a === 'default' ? '`default` (this folder)' : `\`${a}\` (in \`${a}/\`)`,
  );
  const body = [
    MODEL_CARD_MARKER,
    '',
    `# ${methods} adapter${facts.baseModel === undefined ? '' : ` for ${facts.baseModel}`}`,
    '',
    `A ${methods} adapter in the Hugging Face PEFT format (\`adapter_config.json\` + ` +
      '`adapter_model.safetensors`), saved by peft.js. It loads in Python with ' +
      '`PeftModel.from_pretrained(base_model, path)` and in peft.js with `peftModelFromFolder(model, path)`.',
    '',
    `Adapters: ${adapters.join(', ')}.`,
    '',
  ];
  return `${[...front, ...body].join('\n')}`;
}

/** True for a README.md that `adapterModelCard` wrote (and nobody claimed by removing the marker). */
export function isGeneratedModelCard(text: string): boolean {
  return text.includes(MODEL_CARD_MARKER);
}
