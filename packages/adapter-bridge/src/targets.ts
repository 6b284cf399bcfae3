import { ConfigError, isLinear, type Module } from '@peft/core';
import { isAdapterLayer } from './adapter-layer.js';
import type { TunerConfigFields } from './config/peft-config.js';
import { TargetModulesError } from './errors.js';
import { modelInfo } from './model-info.js';
import { isModulesToSaveWrapper } from './modules-to-save.js';
import { pythonPattern } from './python-pattern.js';

/** PEFT's shorthand for "every linear layer except the output head". */
export const ALL_LINEAR = 'all-linear';
/** PEFT condenses `target_modules` lists at least this long into path suffixes. */
export const MIN_TARGET_MODULES_FOR_OPTIMIZATION = 20;
const SEQ_CLS_HEAD_NAMES = ['score', 'classifier'];

type MatchConfig = Pick<
  TunerConfigFields,
  'target_modules' | 'layers_to_transform' | 'layers_pattern' | 'modules_to_save'
> & {
  /** Modules never to adapt (LoRA's `exclude_modules`): a regex (full match) or names (exact or suffix). */
  readonly exclude_modules?: string[] | string | null;
};

/** The config fields target resolution reads (any method's config has them). */
export type TargetMatchConfig = MatchConfig & Pick<TunerConfigFields, 'task_type'>;

/** The layer index `layers_to_transform` is compared with, or null when the path has none. */
function layerIndexOf(key: string, layersPattern: string[] | string | null): number | null {
  const patterns =
    layersPattern === null ? [] : Array.isArray(layersPattern) ? layersPattern : [layersPattern];
  if (patterns.length === 0 || (patterns.length === 1 && patterns[0] === '')) {
    // Lazy: the first numbered segment (the layer), not a nested one such as an MoE expert index.
    const m = /^.*?\.[^.]*\.(\d+)\./.exec(key);
    return m ? Number(m[1]) : null;
  }
  for (const pattern of patterns) {
    const groups = pythonPattern(pattern, {
      field: 'layers_pattern',
      wrap: (p) => `.*?\\.${p}\\.(?P<peftLayerIndex>\\d+)\\.`,
    }).matchStart(key);
    if (groups) return Number(groups['peftLayerIndex']);
  }
  return null;
}

function isModulesToSaveMatch(key: string, modulesToSave: string[] | null): boolean {
  if (!modulesToSave) return false;
  return modulesToSave.some((m) =>
    pythonPattern(m, { field: 'modules_to_save', wrap: (p) => `(^|.*\\.)${p}($|\\..*)` }).fullMatch(key),
  );
}

/**
 * PEFT's `check_target_module_exists`: does the module at `key` match the config? A list entry
 * matches the exact path or a dotted suffix; a string is a regex that must match the whole path.
 * `layers_to_transform` / `layers_pattern` then narrow list matches to the given layer indices.
 * Modules listed in `modules_to_save` or `exclude_modules` never match.
 */
export function checkTargetModuleExists(config: MatchConfig, key: string): boolean {
  const exclude = config.exclude_modules;
  if (exclude) {
    if (typeof exclude === 'string') {
      if (pythonPattern(exclude, { field: 'exclude_modules' }).fullMatch(key)) return false;
    } else if (exclude.includes(key) || exclude.some((e) => key.endsWith(`.${e}`))) {
      return false;
    }
  }
  if (isModulesToSaveMatch(key, config.modules_to_save)) return false;
  const targets = config.target_modules;
  if (targets === null) return false;
  if (typeof targets === 'string') return pythonPattern(targets).fullMatch(key);
  if (targets.includes(key)) return true;
  let found = targets.some((t) => key.endsWith(`.${t}`));
  const indexes = config.layers_to_transform;
  const usingIndexes = indexes !== null && (Array.isArray(indexes) ? indexes.length > 0 : true);
  if (usingIndexes && found) {
    const index = layerIndexOf(key, config.layers_pattern);
    if (index === null) found = false;
    else found = Array.isArray(indexes) ? indexes.includes(index) : index === indexes;
  }
  return found;
}

/**
 * Every module path of the model that a new adapter may consider: all but the root and anything
 * inside an existing adapter layer or modules-to-save wrapper (those are adapter internals).
 */
export function candidateModules(model: Module): [string, Module][] {
  const out: [string, Module][] = [];
  const internals: string[] = [];
  for (const [path, module] of model.namedModules()) {
    if (path === '') continue;
    if (internals.some((p) => path.startsWith(p))) continue;
    out.push([path, module]);
    if (isAdapterLayer(module) || isModulesToSaveWrapper(module)) internals.push(`${path}.`);
  }
  return out;
}

/** The path "all-linear" leaves alone: the declared output head, else a root `lm_head`. */
export function outputHeadPath(model: Module, taskType: string | null): string | null {
  const declared = modelInfo(model).outputHeadPath;
  if (declared !== undefined) return declared;
  const rootChildren = new Map(model.namedChildren());
  if (rootChildren.has('lm_head')) return 'lm_head';
  if (taskType === 'SEQ_CLS') return SEQ_CLS_HEAD_NAMES.find((n) => rootChildren.has(n)) ?? null;
  return null;
}

/** PEFT's `_maybe_include_all_linear_layers`: the full paths "all-linear" stands for. */
export function expandAllLinear(model: Module, taskType: string | null): string[] {
  return allLinearPaths(targetCandidates(model), outputHeadPath(model, taskType));
}

function allLinearPaths(candidates: readonly TargetCandidate[], head: string | null): string[] {
  return candidates.filter((c) => c.linear && c.path !== head).map((c) => c.path);
}

function suffixesOf(name: string): string[] {
  const parts = name.split('.');
  return parts.map((_, i) => parts.slice(i).join('.')).reverse();
}

function compareSuffixLists(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * PEFT's `_find_minimal_target_modules`: the fewest path suffixes that still pick exactly
 * `targets` and none of `others` (how PEFT condenses long lists such as an expanded "all-linear").
 */
export function findMinimalTargetModules(targets: readonly string[], others: readonly string[]): string[] {
  const otherSuffixes = new Set(others.flatMap(suffixesOf));
  const required: string[] = [];
  const items = [...new Set(targets)].map((t) => [t, suffixesOf(t)] as const);
  items.sort((a, b) => compareSuffixLists(a[1], b[1]));
  for (const [item, suffixes] of items) {
    for (const suffix of suffixes) {
      if (required.includes(suffix) || otherSuffixes.has(suffix)) continue;
      if (!required.some((r) => item.endsWith(`.${r}`))) {
        required.push(suffix);
        break;
      }
    }
  }
  return required.length === 0 ? [...new Set(targets)] : required;
}

export interface ResolvedTargets {
  /** Paths to wrap (linear leaves or existing adapter layers), in model order. */
  readonly paths: string[];
  /** `target_modules` as PEFT stores it after resolution ("all-linear" expanded, long lists condensed). */
  readonly targetModules: string[] | string;
}

/** A module as target matching sees it: its path, and whether a method may adapt it. */
export interface TargetCandidate {
  /** Dotted path from the model root, e.g. "model.layers.0.self_attn.q_proj". */
  readonly path: string;
  /** A linear leaf (or an adapter layer already wrapping one): the only modules methods adapt. */
  readonly linear: boolean;
  /** What the module is, for the error when a non-linear module matches (e.g. its class name). */
  readonly kind?: string;
}

export interface MatchTargetModulesOptions {
  /** The output head "all-linear" leaves alone (PEFT: `get_output_embeddings()`); null when there is none. */
  readonly outputHead: string | null;
  /** The model's Hugging Face `model_type`, which picks `defaults` when `target_modules` is null. */
  readonly modelType?: string;
  /** The method's default `target_modules` by model type. */
  readonly defaults?: Readonly<Record<string, readonly string[]>>;
  /** Names the method in messages (e.g. "@peft/vera"). */
  readonly methodName?: string;
}

/** The modules of a tree that a new adapter may consider, as target candidates. */
export function targetCandidates(model: Module): TargetCandidate[] {
  return candidateModules(model).map(([path, module]) => ({
    path,
    linear: isLinear(module) || isAdapterLayer(module),
    kind: module.constructor.name,
  }));
}

/**
 * PEFT's target resolution over module names alone, without a model in memory: "all-linear"
 * expanded, a null `target_modules` replaced by the method's default, long lists condensed as PEFT
 * stores them, then `checkTargetModuleExists` on every candidate. `resolveTargets` is this over a
 * model's tree; planning tools call it with names derived from a config. Matching nothing is an error
 * listing the candidates; matching a module that is not linear is an error naming it.
 */
export function matchTargetModules(
  candidates: readonly TargetCandidate[],
  config: TargetMatchConfig,
  options: MatchTargetModulesOptions,
): ResolvedTargets {
  const methodName = options.methodName ?? 'this method';
  let targetModules = config.target_modules;
  if (targetModules === null) {
    const { modelType } = options;
    const fallback = modelType === undefined ? undefined : options.defaults?.[modelType];
    if (!fallback) {
      throw new ConfigError(
        `target_modules is null and ${methodName} has no default targets for model type ` +
          `${JSON.stringify(modelType ?? null)}; set target_modules (a list of names, a regex, or "all-linear")`,
      );
    }
    targetModules = [...fallback];
  }
  if (typeof targetModules === 'string' && targetModules.toLowerCase() === ALL_LINEAR) {
    targetModules = allLinearPaths(candidates, options.outputHead);
  }
  if (Array.isArray(targetModules) && targetModules.length >= MIN_TARGET_MODULES_FOR_OPTIMIZATION) {
    const suffixes = targetModules.map((t) => `.${t}`);
    const others = ['', ...candidates.map((c) => c.path)].filter(
      (p) => !targetModules!.includes(p) && !suffixes.some((s) => p.endsWith(s)),
    );
    const condensed = findMinimalTargetModules(targetModules, others);
    if (condensed.length < targetModules.length) targetModules = condensed;
  }
  const effective = { ...config, target_modules: targetModules };
  const paths: string[] = [];
  for (const candidate of candidates) {
    if (!checkTargetModuleExists(effective, candidate.path)) continue;
    if (!candidate.linear) {
      throw new TargetModulesError(
        `target_modules matched "${candidate.path}", a ${candidate.kind ?? 'module that is not a linear layer'}; ` +
          `${methodName} adapts linear layers only ` +
          '(narrow target_modules to the linear layers, e.g. with full paths or a regex)',
      );
    }
    paths.push(candidate.path);
  }
  if (paths.length === 0) {
    const names = candidates.map((c) => c.path);
    const shown = names.slice(0, 400);
    throw new TargetModulesError(
      `target_modules ${JSON.stringify(config.target_modules)}` +
        (config.layers_to_transform === null
          ? ''
          : ` with layers_to_transform ${JSON.stringify(config.layers_to_transform)}`) +
        (config.layers_pattern === null
          ? ''
          : ` and layers_pattern ${JSON.stringify(config.layers_pattern)}`) +
        ` matched no module of the model. The modules are:\n  ${shown.join('\n  ')}` +
        (names.length > shown.length ? `\n  ... and ${names.length - shown.length} more` : ''),
    );
  }
  return { paths, targetModules };
}

/**
 * Resolves a config's targets on `model` as PEFT's `inject_adapter` does (`matchTargetModules` over
 * the model's modules), and checks them.
 */
export function resolveTargets(
  model: Module,
  config: TargetMatchConfig,
  defaults: Readonly<Record<string, readonly string[]>> | undefined,
  methodName: string,
): ResolvedTargets {
  const modelType = modelInfo(model).modelType;
  return matchTargetModules(targetCandidates(model), config, {
    outputHead: outputHeadPath(model, config.task_type),
    ...(modelType === undefined ? {} : { modelType }),
    ...(defaults === undefined ? {} : { defaults }),
    methodName,
  });
}
