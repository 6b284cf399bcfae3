// A small glob matcher for Hub file paths. `*` and `?` stay inside one path segment (so `*.json` picks the
// files at the top of the repository, not `onnx/config.json`); `**` crosses folders.

/** Turns a glob into an anchored regular expression. Every other character is literal. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === '*') {
      if (glob[i + 1] === '*') {
        // `**/` matches zero or more whole folders; a trailing `**` matches anything.
        if (glob[i + 2] === '/') {
          source += '(?:[^/]*/)*';
          i += 2;
        } else {
          source += '.*';
          i += 1;
        }
      } else {
        source += '[^/]*';
      }
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** Whether `path` matches at least one of `globs`. */
export function matchesAnyGlob(path: string, globs: readonly RegExp[]): boolean {
  return globs.some((glob) => glob.test(path));
}
