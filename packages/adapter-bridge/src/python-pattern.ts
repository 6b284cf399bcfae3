import { ConfigError } from '@peft/core';
import { RE2JS } from 're2js';

/**
 * A Python `re` pattern from an adapter config (`target_modules`, `exclude_modules`, `layers_pattern`,
 * `modules_to_save`, LoRA's `rank_pattern` keys), compiled for RE2 (the `re2js` port), whose matching
 * time is linear in the input whatever the pattern. JavaScript's own `RegExp` backtracks: a hostile
 * config such as `"^(\\w+\\.?)*!$"` would stall loading for minutes on one long module path.
 */
export interface PythonPattern {
  /** The pattern as the config wrote it. */
  readonly source: string;
  /** Python's `re.fullmatch(pattern, text) is not None`. */
  fullMatch(text: string): boolean;
  /** Python's `re.match(pattern, text)` (anchored at the start only): the named groups, or null. */
  matchStart(text: string): Record<string, string | null> | null;
}

export interface PythonPatternOptions {
  /** The config field the pattern comes from, named in errors (default "target_modules"). */
  readonly field?: string;
  /**
   * Builds the expression to compile around the translated pattern (e.g. PEFT's
   * `(.*\.)?(<key>)$` for `rank_pattern`); errors still quote the pattern as written.
   */
  readonly wrap?: (translated: string) => string;
}

// Constructs that need backtracking. RE2 refuses them too, but with a bare syntax message; these
// say which construct it was and what to do instead.
const UNSUPPORTED_GROUPS: readonly [prefix: string, what: string][] = [
  ['(?=', 'a lookahead "(?=...)"'],
  ['(?!', 'a negative lookahead "(?!...)"'],
  ['(?<=', 'a lookbehind "(?<=...)"'],
  ['(?<!', 'a negative lookbehind "(?<!...)"'],
  ['(?P=', 'a named backreference "(?P=name)"'],
  ['(?(', 'a conditional group "(?(id)yes|no)"'],
  ['(?>', 'an atomic group "(?>...)"'],
];

function unsupported(pattern: string, field: string, what: string): never {
  throw new ConfigError(
    `"${field}" = ${JSON.stringify(pattern)} uses ${what}, which the linear-time regular expression ` +
      'engine (RE2) does not support; rewrite the pattern without it (or list the module names instead)',
  );
}

/**
 * Python `re` syntax -> RE2 syntax, for what differs and module names can use: `\Z` is RE2's `\z`,
 * `{,n}` is `{0,n}`. `(?P<name>...)`, classes, alternation, quantifiers and inline flags are the same.
 */
function translate(pattern: string, field: string): string {
  let out = '';
  let classStart = -1; // index just after '[' (and a leading '^') while inside a character class
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      const octal = /^[0-7]{1,3}/.exec(pattern.slice(i + 1, i + 4))?.[0];
      if (octal !== undefined && (classStart >= 0 || next === '0')) {
        // An octal escape (Python: "\\0", or any digits inside a class); RE2 spells it \x{...}.
        out += `\\x{${Number.parseInt(octal, 8).toString(16)}}`;
        i += octal.length;
        continue;
      }
      if (classStart < 0 && next >= '1' && next <= '9') {
        unsupported(pattern, field, `a backreference "\\${next}"`);
      }
      out += classStart < 0 && next === 'Z' ? '\\z' : `\\${next}`;
      i++;
      continue;
    }
    if (classStart >= 0) {
      // A ']' right after '[' or '[^' is a literal, as in Python.
      if (c === ']' && i > classStart) classStart = -1;
      out += c;
      continue;
    }
    if (c === '[') {
      classStart = pattern[i + 1] === '^' ? i + 2 : i + 1;
      out += pattern[i + 1] === '^' ? '[^' : '[';
      if (pattern[i + 1] === '^') i++;
      continue;
    }
    if (c === '(') {
      for (const [prefix, what] of UNSUPPORTED_GROUPS) {
        if (pattern.startsWith(prefix, i)) unsupported(pattern, field, what);
      }
    }
    if (c === '{' && /^\{,\d+\}/.test(pattern.slice(i, i + 24))) {
      out += '{0';
      continue;
    }
    out += c;
  }
  return out;
}

interface Compiled {
  readonly re: RE2JS;
  readonly groups: readonly string[];
}

// Configs repeat a handful of patterns over thousands of module paths: compile each once.
const MAX_CACHED = 512;
const cache = new Map<string, Compiled>();

function compile(expression: string, pattern: string, field: string): Compiled {
  const cached = cache.get(expression);
  if (cached) return cached;
  let compiled: Compiled;
  try {
    const re = RE2JS.compile(expression);
    compiled = { re, groups: Object.keys(re.namedGroups()) };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ConfigError(
      `"${field}" is not a valid regular expression: ${JSON.stringify(pattern)} (${detail})`,
    );
  }
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(expression, compiled);
  return compiled;
}

/**
 * Compiles a Python `re` pattern from an adapter config for linear-time matching. Throws a
 * `ConfigError` naming `field` for invalid syntax and for constructs RE2 lacks (backreferences,
 * lookaround, conditionals, atomic groups).
 */
export function pythonPattern(pattern: string, options: PythonPatternOptions = {}): PythonPattern {
  const field = options.field ?? 'target_modules';
  const translated = translate(pattern, field);
  const { re, groups } = compile(options.wrap ? options.wrap(translated) : translated, pattern, field);
  return {
    source: pattern,
    fullMatch: (text) => re.testExact(text),
    matchStart(text) {
      const matcher = re.matcher(text);
      if (!matcher.lookingAt()) return null;
      return Object.fromEntries(groups.map((name) => [name, matcher.group(name)]));
    },
  };
}
