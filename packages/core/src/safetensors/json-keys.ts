// `JSON.parse` silently keeps the last of two equal keys and reorders integer-like keys, but the
// safetensors format forbids duplicate keys and a byte-exact rewrite needs the metadata keys in file
// order. No maintained package reports both for plain (non-JSONC) JSON, so this small scanner walks
// text that `JSON.parse` has already accepted and records object keys as they appear.

export interface HeaderKeys {
  /** Keys of the top-level object, in text order. */
  readonly top: readonly string[];
  /** For each top-level key whose value is an object: that object's keys, in text order. */
  readonly nested: ReadonlyMap<string, readonly string[]>;
  /** Path of the first repeated key (e.g. `["w", "dtype"]`), if any object repeats one. */
  readonly duplicate: readonly string[] | undefined;
}

interface Frame {
  readonly isObject: boolean;
  readonly keys: string[];
  readonly seen: Set<string>;
  /** The key this value sits under in its parent object (undefined for arrays' items and the root). */
  readonly parentKey: string | undefined;
  expectingKey: boolean;
  lastKey: string | undefined;
}

/** Scan JSON text that is already known to be valid. The root is expected to be an object. */
export function scanHeaderKeys(text: string): HeaderKeys {
  const stack: Frame[] = [];
  let top: string[] = [];
  const nested = new Map<string, string[]>();
  let i = 0;
  const open = (isObject: boolean): void => {
    const parent = stack[stack.length - 1];
    stack.push({
      isObject,
      keys: [],
      seen: new Set(),
      parentKey: parent?.isObject ? parent.lastKey : undefined,
      expectingKey: isObject,
      lastKey: undefined,
    });
  };
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = endOfString(text, i);
      const frame = stack[stack.length - 1];
      if (frame?.isObject && frame.expectingKey) {
        const key = JSON.parse(text.slice(i, end)) as string;
        if (frame.seen.has(key)) return { top, nested, duplicate: pathOf(stack, key) };
        frame.seen.add(key);
        frame.keys.push(key);
        frame.lastKey = key;
        frame.expectingKey = false;
      }
      i = end;
      continue;
    }
    if (c === 0x7b /* { */) open(true);
    else if (c === 0x5b /* [ */) open(false);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      const frame = stack.pop();
      if (frame?.isObject) {
        if (stack.length === 0) top = frame.keys;
        else if (stack.length === 1 && frame.parentKey !== undefined) nested.set(frame.parentKey, frame.keys);
      }
    } else if (c === 0x2c /* , */) {
      const frame = stack[stack.length - 1];
      if (frame?.isObject) frame.expectingKey = true;
    }
    i++;
  }
  return { top, nested, duplicate: undefined };
}

/** Index just past the closing quote of the string starting at `start`. */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i += 2;
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return text.length;
}

function pathOf(stack: readonly Frame[], key: string): string[] {
  const path: string[] = [];
  for (const frame of stack.slice(1)) if (frame.parentKey !== undefined) path.push(frame.parentKey);
  path.push(key);
  return path;
}
