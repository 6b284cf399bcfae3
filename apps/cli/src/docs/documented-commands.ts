// Reads the `$ npx peft ...` examples out of the markdown guides: each command with the output the guide
// shows under it, so a test can run the command and compare.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DocumentedCommand {
  /** The guide, relative to the repository root, and the line of the `$` prompt. */
  where: string;
  /** The words after `$ `, quotes removed, continuation lines joined. */
  argv: string[];
  /** A `| jq .<field>` after the command: the guide shows that field of the JSON output. */
  jqField?: string;
  /** The lines the guide shows under the command, up to the next `$` or the end of the block. */
  shown: string[];
}

/** Splits a shell command line into words: double and single quotes group, nothing else is interpreted. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const match of line.matchAll(pattern)) words.push(match[1] ?? match[2] ?? match[3]!);
  return words;
}

function commandAt(lines: string[], start: number): { text: string; next: number } {
  let text = lines[start]!.slice(2);
  let next = start + 1;
  while (text.endsWith('\\') && next < lines.length) {
    text = `${text.slice(0, -1).trimEnd()} ${lines[next]!.trim()}`;
    next++;
  }
  return { text, next };
}

/** Every `$ ` command in the fenced blocks of one markdown text. */
export function documentedCommands(markdown: string, file: string): DocumentedCommand[] {
  const commands: DocumentedCommand[] = [];
  const lines = markdown.split('\n');
  let inBlock = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('```')) {
      inBlock = !inBlock;
      continue;
    }
    if (!inBlock || !line.startsWith('$ ')) continue;
    const { text, next } = commandAt(lines, i);
    const [command, jq] = text.split(/\s\|\s*jq\s+/);
    const shown: string[] = [];
    let j = next;
    while (j < lines.length && !lines[j]!.startsWith('```') && !lines[j]!.startsWith('$ ')) {
      shown.push(lines[j]!);
      j++;
    }
    commands.push({
      where: `${file}:${i + 1}`,
      argv: shellWords(command!),
      ...(jq ? { jqField: jq.trim().replace(/^\./, '') } : {}),
      shown,
    });
    i = j - 1;
  }
  return commands;
}

/** The `$` commands of every guide in `docs/` (and the README), in reading order per file. */
export function commandsOfGuides(repoRoot: string): Map<string, DocumentedCommand[]> {
  const files = [
    'README.md',
    ...readdirSync(join(repoRoot, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .sort()
      .map((name) => `docs/${name}`),
  ];
  const byFile = new Map<string, DocumentedCommand[]>();
  for (const file of files) {
    const commands = documentedCommands(readFileSync(join(repoRoot, file), 'utf8'), file);
    if (commands.length > 0) byFile.set(file, commands);
  }
  return byFile;
}
